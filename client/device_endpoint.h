// File: client/device_endpoint.h
// -----------------------------------------------------------------------------
// A framework endpoint whose tensors live on a GPU: one cudaMalloc allocation
// holding them back to back, shared with the agent of that GPU by CUDA IPC
// handle, so the agent's NCCL transfers read and write them in place. Built
// only with CUDA. (PyTorch processes share their own tensors instead; see the
// Python package.)
#ifndef PARAMSYNC_CLIENT_DEVICE_ENDPOINT_H_
#define PARAMSYNC_CLIENT_DEVICE_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/endpoint.h"

namespace paramsync::client {

class DeviceEndpoint final : public Endpoint {
 public:
  // Allocates `tensors` (256-byte aligned, zero-filled) on CUDA device `device`
  // and registers them as `endpoint` with the agent at `agent_address`, which
  // must serve the same GPU.
  static absl::StatusOr<std::unique_ptr<DeviceEndpoint>> Register(
      const std::string& agent_address, const v1::EndpointSpec& endpoint,
      const std::vector<TensorDecl>& tensors, int device,
      absl::Duration timeout = absl::Seconds(30));

  // The tensor's device pointer, or nullptr for an unknown name.
  void* Data(const std::string& name) const;

  absl::Status Write(const std::string& name, const void* src, uint64_t bytes) override;
  absl::Status Read(const std::string& name, void* dst, uint64_t bytes) const override;

 private:
  // Frees device memory on the device it came from.
  struct CudaFree {
    int device;
    void operator()(char* p) const;
  };
  using Allocation = std::unique_ptr<char, CudaFree>;

  DeviceEndpoint(std::string agent_address, v1::LocalRegisterEndpointRequest request,
                 Allocation allocation)
      : Endpoint(std::move(agent_address), std::move(request)),
        allocation_(std::move(allocation)) {}

  const Allocation allocation_;
};

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_DEVICE_ENDPOINT_H_
