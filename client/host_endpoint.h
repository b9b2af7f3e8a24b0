// File: client/host_endpoint.h
// -----------------------------------------------------------------------------
// The framework-process side of registration: a trainer or inference rank lays
// out its host tensors in one shared-memory region, registers them with its
// local agent, and then reads and writes them in place; the agent reads (trainer)
// or writes (inference) the same bytes during a sync.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<HostEndpoint> endpoint,
//                    HostEndpoint::Register("127.0.0.1:7001", spec, {
//                        {"w", v1::DTYPE_BFLOAT16, {1024, 512}, 0},
//                        {"norm", v1::DTYPE_FLOAT32, {512}, std::nullopt}}));
//   std::memcpy(endpoint->Data("w"), fresh_weights, endpoint->Bytes("w"));
#ifndef PARAMSYNC_CLIENT_HOST_ENDPOINT_H_
#define PARAMSYNC_CLIENT_HOST_ENDPOINT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/shared_memory.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::client {

struct TensorDecl {
  std::string name;
  v1::DType dtype = v1::DTYPE_FLOAT32;
  std::vector<int64_t> shape;       // The local shard.
  std::optional<int> tp_split_dim;  // Absent: every TP rank holds it whole.
};

class HostEndpoint {
 public:
  // Lays out `tensors` (64-byte aligned, zero-filled) in a new shared-memory
  // region and registers them as `endpoint` with the agent at `agent_address`.
  // The agent's and coordinator's errors come back unchanged (INVALID_ARGUMENT,
  // ALREADY_EXISTS, ...).
  static absl::StatusOr<std::unique_ptr<HostEndpoint>> Register(
      const std::string& agent_address, const v1::EndpointSpec& endpoint,
      const std::vector<TensorDecl>& tensors, absl::Duration timeout = absl::Seconds(30));

  // Same, from a complete request whose tensors carry only their specs (the
  // shared-memory fields are filled here): the C ABI's entry point.
  static absl::StatusOr<std::unique_ptr<HostEndpoint>> Register(
      const std::string& agent_address, v1::LocalRegisterEndpointRequest request,
      absl::Duration timeout);

  // The tensor's bytes, or nullptr for an unknown name.
  void* Data(const std::string& name) const;
  uint64_t Bytes(const std::string& name) const;
  std::vector<std::string> Names() const;

  // The weights version this endpoint holds, as its agent knows it.
  absl::StatusOr<int64_t> Version(absl::Duration timeout = absl::Seconds(10)) const;

  const v1::EndpointSpec& spec() const { return request_.endpoint(); }

 private:
  HostEndpoint(std::string agent_address, v1::LocalRegisterEndpointRequest request,
               SharedMemoryRegion region);

  const std::string agent_address_;
  const v1::LocalRegisterEndpointRequest request_;
  SharedMemoryRegion region_;
  std::map<std::string, const v1::LocalTensor*> by_name_;
};

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_HOST_ENDPOINT_H_
