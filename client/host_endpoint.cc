#include "client/host_endpoint.h"

#include <unistd.h>

#include <atomic>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/grpc_channels.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::client {
namespace {

constexpr uint64_t kAlignment = 64;

std::string NewRegionName() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return absl::StrCat("/paramsync-", getpid(), "-", counter++, "-", random() % 1000000);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HostEndpoint>> HostEndpoint::Register(
    const std::string& agent_address, const v1::EndpointSpec& endpoint,
    const std::vector<TensorDecl>& tensors, absl::Duration timeout) {
  v1::LocalRegisterEndpointRequest request;
  *request.mutable_endpoint() = endpoint;
  for (const TensorDecl& decl : tensors) {
    v1::ParameterSpec* spec = request.add_tensors()->mutable_spec();
    spec->set_name(decl.name);
    spec->set_dtype(decl.dtype);
    for (int64_t d : decl.shape) spec->add_shape(d);
    if (decl.tp_split_dim.has_value()) spec->set_tp_split_dim(*decl.tp_split_dim);
  }
  return Register(agent_address, std::move(request), timeout);
}

absl::StatusOr<std::unique_ptr<HostEndpoint>> HostEndpoint::Register(
    const std::string& agent_address, v1::LocalRegisterEndpointRequest request,
    absl::Duration timeout) {
  uint64_t size = 0;
  for (v1::LocalTensor& tensor : *request.mutable_tensors()) {
    absl::StatusOr<uint64_t> bytes = TensorBytes(tensor.spec().dtype(), tensor.spec().shape());
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", tensor.spec().name(), "': ", bytes.status().message()));
    }
    size = (size + kAlignment - 1) / kAlignment * kAlignment;
    tensor.set_offset(size);
    tensor.set_nbytes(*bytes);
    size += *bytes;
  }
  ASSIGN_OR_RETURN(SharedMemoryRegion region,
                   SharedMemoryRegion::Create(NewRegionName(), std::max<uint64_t>(size, 1)));
  for (v1::LocalTensor& tensor : *request.mutable_tensors()) tensor.set_shm_name(region.name());

  auto stub = v1::AgentLocal::NewStub(MakeAgentChannel(agent_address));
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  context.set_wait_for_ready(true);  // The agent may still be starting.
  v1::LocalRegisterEndpointResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub->RegisterEndpoint(&context, request, &response),
                                 absl::StrCat("RegisterEndpoint on agent ", agent_address)));
  return std::unique_ptr<HostEndpoint>(
      new HostEndpoint(agent_address, std::move(request), std::move(region)));
}

HostEndpoint::HostEndpoint(std::string agent_address, v1::LocalRegisterEndpointRequest request,
                           SharedMemoryRegion region)
    : agent_address_(std::move(agent_address)),
      request_(std::move(request)),
      region_(std::move(region)) {
  for (const v1::LocalTensor& tensor : request_.tensors()) by_name_[tensor.spec().name()] = &tensor;
}

void* HostEndpoint::Data(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  return static_cast<char*>(region_.data()) + it->second->offset();
}

uint64_t HostEndpoint::Bytes(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? 0 : it->second->nbytes();
}

std::vector<std::string> HostEndpoint::Names() const {
  std::vector<std::string> names;
  for (const v1::LocalTensor& tensor : request_.tensors()) names.push_back(tensor.spec().name());
  return names;
}

absl::StatusOr<int64_t> HostEndpoint::Version(absl::Duration timeout) const {
  auto stub = v1::AgentLocal::NewStub(MakeAgentChannel(agent_address_));
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  v1::GetVersionRequest request;
  request.mutable_endpoint()->set_model(spec().model());
  request.mutable_endpoint()->set_rank(spec().rank());
  v1::GetVersionResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub->GetVersion(&context, request, &response), "GetVersion"));
  return response.version();
}

}  // namespace paramsync::client
