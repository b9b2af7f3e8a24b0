// File: client/endpoint.h
// -----------------------------------------------------------------------------
// A registered framework endpoint, whatever memory its tensors live in (host
// shared memory: HostEndpoint; GPU memory: DeviceEndpoint). Read and Write copy
// between the tensor and host memory, for tests, tools and frameworks that fill
// weights from the host.
#ifndef PARAMSYNC_CLIENT_ENDPOINT_H_
#define PARAMSYNC_CLIENT_ENDPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/agent_local.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::client {

struct TensorDecl {
  std::string name;
  v1::DType dtype = v1::DTYPE_FLOAT32;
  std::vector<int64_t> shape;       // The local shard.
  std::optional<int> tp_split_dim;  // Absent: every TP rank holds it whole.
  std::optional<int> expert_dim;    // Stacked routed experts (HEP): the expert dimension.
  // Set on a LoRA adapter matrix: its role, base weight and scale (v1::LoraSpec).
  std::optional<v1::LoraSpec> lora;
};

// The registration request of `endpoint` with `tensors` laid out back to back
// (each at a multiple of `alignment`); returns the total bytes through `size`.
absl::StatusOr<v1::LocalRegisterEndpointRequest> LayOut(const v1::EndpointSpec& endpoint,
                                                        const std::vector<TensorDecl>& tensors,
                                                        uint64_t alignment, uint64_t* size);

// Lays out the tensors of `request`, which carry only their specs, as LayOut
// does: sets each one's offset and nbytes from its spec's dtype and shape and
// leaves every spec field as it is (so fields LayOut's TensorDecl does not name,
// such as logical pieces, reach the agent). Returns the total bytes;
// INVALID_ARGUMENT naming the tensor for a dtype or shape without a size.
absl::StatusOr<uint64_t> PlaceTensors(uint64_t alignment,
                                      v1::LocalRegisterEndpointRequest* request);

class Endpoint {
 public:
  virtual ~Endpoint() = default;

  const v1::EndpointSpec& spec() const { return request_.endpoint(); }
  std::vector<std::string> Names() const;
  // 0 for an unknown name.
  uint64_t Bytes(const std::string& name) const;

  // Copies `bytes` host bytes into / out of tensor `name`. NOT_FOUND for an
  // unknown name; INVALID_ARGUMENT unless `bytes` is the tensor's size.
  virtual absl::Status Write(const std::string& name, const void* src, uint64_t bytes) = 0;
  virtual absl::Status Read(const std::string& name, void* dst, uint64_t bytes) const = 0;

  // The weights version this endpoint holds, as its agent knows it.
  absl::StatusOr<int64_t> Version(absl::Duration timeout = absl::Seconds(10)) const;

 protected:
  // Attaches to the agent (see AgentAttachment) for the endpoint's lifetime,
  // registering `request` again with a restarted agent.
  Endpoint(std::string agent_address, v1::LocalRegisterEndpointRequest request);
  // The registered tensor `name`, or nullptr.
  const v1::LocalTensor* Find(const std::string& name) const;
  // Offset of tensor `name` in its memory, after checking `bytes` against it.
  absl::StatusOr<uint64_t> Locate(const std::string& name, uint64_t bytes) const;

  const std::string agent_address_;
  const v1::LocalRegisterEndpointRequest request_;

 private:
  const std::unique_ptr<AgentAttachment> attachment_;
};

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_ENDPOINT_H_
