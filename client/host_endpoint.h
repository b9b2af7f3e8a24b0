// File: client/host_endpoint.h
// -----------------------------------------------------------------------------
// A framework endpoint whose tensors live in host memory: laid out in one
// shared-memory region, registered with the local agent, then read and written
// in place; the agent reads (trainer) or writes (inference) the same bytes
// during a sync.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<HostEndpoint> endpoint,
//                    HostEndpoint::Register("127.0.0.1:7001", spec, {
//                        {"w", v1::DTYPE_BFLOAT16, {1024, 512}, 0},
//                        {"norm", v1::DTYPE_FLOAT32, {512}, std::nullopt}}));
//   std::memcpy(endpoint->Data("w"), fresh_weights, endpoint->Bytes("w"));
#ifndef PARAMSYNC_CLIENT_HOST_ENDPOINT_H_
#define PARAMSYNC_CLIENT_HOST_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/endpoint.h"
#include "common/shared_memory.h"

namespace paramsync::client {

class HostEndpoint final : public Endpoint {
 public:
  // Lays out `tensors` (64-byte aligned, zero-filled) in a new shared-memory
  // region and registers them as `endpoint` with the agent at `agent_address`.
  // The agent's and coordinator's errors come back unchanged (INVALID_ARGUMENT,
  // ALREADY_EXISTS, ...).
  static absl::StatusOr<std::unique_ptr<HostEndpoint>> Register(
      const std::string& agent_address, const v1::EndpointSpec& endpoint,
      const std::vector<TensorDecl>& tensors, absl::Duration timeout = absl::Seconds(30));

  // Same, from a request whose tensors carry only their specs (the C ABI's
  // entry); every spec field reaches the agent as given (PlaceTensors).
  static absl::StatusOr<std::unique_ptr<HostEndpoint>> Register(
      const std::string& agent_address, v1::LocalRegisterEndpointRequest request,
      absl::Duration timeout);

  // The tensor's bytes, in place, or nullptr for an unknown name.
  void* Data(const std::string& name) const;

  absl::Status Write(const std::string& name, const void* src, uint64_t bytes) override;
  absl::Status Read(const std::string& name, void* dst, uint64_t bytes) const override;

 private:
  // Places `request`'s laid-out tensors (`size` bytes in all) in a new
  // shared-memory region and registers them.
  static absl::StatusOr<std::unique_ptr<HostEndpoint>> Create(
      const std::string& agent_address, v1::LocalRegisterEndpointRequest request, uint64_t size,
      absl::Duration timeout);

  HostEndpoint(std::string agent_address, v1::LocalRegisterEndpointRequest request,
               SharedMemoryRegion region)
      : Endpoint(std::move(agent_address), std::move(request)), region_(std::move(region)) {}

  SharedMemoryRegion region_;
};

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_HOST_ENDPOINT_H_
