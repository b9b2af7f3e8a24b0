#include "client/endpoint.h"

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "client/agent_local.h"
#include "common/dtype.h"

namespace paramsync::client {

absl::StatusOr<v1::LocalRegisterEndpointRequest> LayOut(const v1::EndpointSpec& endpoint,
                                                        const std::vector<TensorDecl>& tensors,
                                                        uint64_t alignment, uint64_t* size) {
  v1::LocalRegisterEndpointRequest request;
  *request.mutable_endpoint() = endpoint;
  for (const TensorDecl& decl : tensors) {
    v1::ParameterSpec* spec = request.add_tensors()->mutable_spec();
    spec->set_name(decl.name);
    spec->set_dtype(decl.dtype);
    for (int64_t d : decl.shape) spec->add_shape(d);
    if (decl.tp_split_dim.has_value()) spec->set_tp_split_dim(*decl.tp_split_dim);
    if (decl.expert_dim.has_value()) spec->set_expert_dim(*decl.expert_dim);
    if (decl.lora.has_value()) *spec->mutable_lora() = *decl.lora;
  }
  absl::StatusOr<uint64_t> bytes = PlaceTensors(alignment, &request);
  if (!bytes.ok()) return bytes.status();
  *size = *bytes;
  return request;
}

absl::StatusOr<uint64_t> PlaceTensors(uint64_t alignment,
                                      v1::LocalRegisterEndpointRequest* request) {
  uint64_t offset = 0;
  for (v1::LocalTensor& tensor : *request->mutable_tensors()) {
    const v1::ParameterSpec& spec = tensor.spec();
    absl::StatusOr<uint64_t> bytes = TensorBytes(
        spec.dtype(), absl::Span<const int64_t>(spec.shape().data(), spec.shape().size()));
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", spec.name(), "': ", bytes.status().message()));
    }
    offset = (offset + alignment - 1) / alignment * alignment;
    tensor.set_offset(offset);
    tensor.set_nbytes(*bytes);
    offset += *bytes;
  }
  return offset;
}

Endpoint::Endpoint(std::string agent_address, v1::LocalRegisterEndpointRequest request)
    : agent_address_(std::move(agent_address)),
      request_(std::move(request)),
      attachment_(AgentAttachment::Start(agent_address_, request_)) {}

std::vector<std::string> Endpoint::Names() const {
  std::vector<std::string> names;
  for (const v1::LocalTensor& tensor : request_.tensors()) names.push_back(tensor.spec().name());
  return names;
}

const v1::LocalTensor* Endpoint::Find(const std::string& name) const {
  for (const v1::LocalTensor& tensor : request_.tensors()) {
    if (tensor.spec().name() == name) return &tensor;
  }
  return nullptr;
}

uint64_t Endpoint::Bytes(const std::string& name) const {
  const v1::LocalTensor* tensor = Find(name);
  return tensor == nullptr ? 0 : tensor->nbytes();
}

absl::StatusOr<uint64_t> Endpoint::Locate(const std::string& name, uint64_t bytes) const {
  const v1::LocalTensor* tensor = Find(name);
  if (tensor == nullptr) {
    return absl::NotFoundError(absl::StrCat("this endpoint has no tensor '", name, "'"));
  }
  if (tensor->nbytes() != bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' has ", tensor->nbytes(), " bytes, not ", bytes));
  }
  return tensor->offset();
}

absl::StatusOr<int64_t> Endpoint::Version(absl::Duration timeout) const {
  return QueryVersion(agent_address_, spec().model(), spec().rank(), timeout);
}

}  // namespace paramsync::client
