#include "client/host_endpoint.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/agent_local.h"
#include "common/status_macros.h"

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
  uint64_t size = 0;
  ASSIGN_OR_RETURN(v1::LocalRegisterEndpointRequest request,
                   LayOut(endpoint, tensors, kAlignment, &size));
  return Create(agent_address, std::move(request), size, timeout);
}

absl::StatusOr<std::unique_ptr<HostEndpoint>> HostEndpoint::Register(
    const std::string& agent_address, v1::LocalRegisterEndpointRequest request,
    absl::Duration timeout) {
  ASSIGN_OR_RETURN(const uint64_t size, PlaceTensors(kAlignment, &request));
  return Create(agent_address, std::move(request), size, timeout);
}

absl::StatusOr<std::unique_ptr<HostEndpoint>> HostEndpoint::Create(
    const std::string& agent_address, v1::LocalRegisterEndpointRequest request, uint64_t size,
    absl::Duration timeout) {
  ASSIGN_OR_RETURN(SharedMemoryRegion region,
                   SharedMemoryRegion::Create(NewRegionName(), std::max<uint64_t>(size, 1)));
  for (v1::LocalTensor& tensor : *request.mutable_tensors()) tensor.set_shm_name(region.name());
  RETURN_IF_ERROR(RegisterWithAgent(agent_address, request, timeout));
  return std::unique_ptr<HostEndpoint>(
      new HostEndpoint(agent_address, std::move(request), std::move(region)));
}

void* HostEndpoint::Data(const std::string& name) const {
  const v1::LocalTensor* tensor = Find(name);
  return tensor == nullptr ? nullptr : static_cast<char*>(region_.data()) + tensor->offset();
}

absl::Status HostEndpoint::Write(const std::string& name, const void* src, uint64_t bytes) {
  ASSIGN_OR_RETURN(const uint64_t offset, Locate(name, bytes));
  std::memcpy(static_cast<char*>(region_.data()) + offset, src, bytes);
  return absl::OkStatus();
}

absl::Status HostEndpoint::Read(const std::string& name, void* dst, uint64_t bytes) const {
  ASSIGN_OR_RETURN(const uint64_t offset, Locate(name, bytes));
  std::memcpy(dst, static_cast<const char*>(region_.data()) + offset, bytes);
  return absl::OkStatus();
}

}  // namespace paramsync::client
