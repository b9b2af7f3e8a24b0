#include "agent/tensors/tensor_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/request_deadline.h"
#include "common/status_macros.h"

namespace paramsync::agent {
namespace {

std::string Describe(const EndpointKey& key) {
  return absl::StrCat(key.first, " rank ", key.second);
}

}  // namespace

absl::StatusOr<TensorView> TensorRegistry::MapTensor(
    const v1::LocalTensor& tensor,
    absl::flat_hash_map<std::string, std::shared_ptr<SharedMemoryRegion>>& regions,
    std::vector<std::shared_ptr<SharedMemoryRegion>>& keep_alive) {
  const std::string& name = tensor.spec().name();
  char* base = nullptr;
  size_t size = 0;
  std::string where;
  if (!tensor.cuda_ipc_handle().empty()) {
    if (device_mapper_ == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("tensor '", name,
                       "' is GPU memory, but this agent serves host memory "
                       "(--device=cpu); register it with the agent of its GPU (--device=cuda:N)"));
    }
    ASSIGN_OR_RETURN(MappedAllocation mapping, device_mapper_->Open(tensor.cuda_ipc_handle()));
    base = mapping.base;
    size = mapping.size;
    where = "its CUDA allocation";
  } else {
    if (device_mapper_ != nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor '", name, "' is host memory (shm ", tensor.shm_name(),
          "), but this agent serves a GPU; share GPU tensors by CUDA IPC handle, or register "
          "host tensors with a --device=cpu agent"));
    }
    std::shared_ptr<SharedMemoryRegion>& region = regions[tensor.shm_name()];
    if (region == nullptr) {
      absl::StatusOr<SharedMemoryRegion> opened = SharedMemoryRegion::Open(tensor.shm_name());
      if (!opened.ok()) {
        return absl::Status(opened.status().code(),
                            absl::StrCat("tensor '", name, "': ", opened.status().message()));
      }
      region = std::make_shared<SharedMemoryRegion>(*std::move(opened));
      keep_alive.push_back(region);
    }
    base = static_cast<char*>(region->data());
    size = region->size();
    where = absl::StrCat("region ", tensor.shm_name());
  }
  if (tensor.offset() > size || tensor.nbytes() > size - tensor.offset()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': bytes [", tensor.offset(), ", ", tensor.offset() + tensor.nbytes(),
        ") lie outside ", where, " of ", size, " bytes"));
  }
  return TensorView{&tensor.spec(), base + tensor.offset(), tensor.nbytes()};
}

absl::Status TensorRegistry::RegisterEndpoint(const v1::LocalRegisterEndpointRequest& request) {
  const v1::EndpointSpec& spec = request.endpoint();
  if (spec.model().empty()) return absl::InvalidArgumentError("endpoint.model must not be empty");
  if (spec.rank() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint.rank must be >= 0, got ", spec.rank()));
  }
  auto endpoint = std::make_unique<Endpoint>();
  endpoint->request = request;
  absl::flat_hash_map<std::string, std::shared_ptr<SharedMemoryRegion>> regions;
  for (const v1::LocalTensor& tensor : endpoint->request.tensors()) {
    const std::string& name = tensor.spec().name();
    if (name.empty()) return absl::InvalidArgumentError("tensors[].spec.name must not be empty");
    ASSIGN_OR_RETURN(const uint64_t expected,
                     TensorBytes(tensor.spec().dtype(), tensor.spec().shape()));
    if (tensor.nbytes() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "': nbytes is ", tensor.nbytes(), " but dtype ",
          DTypeName(tensor.spec().dtype()), " and its shape make ", expected, " bytes"));
    }
    ASSIGN_OR_RETURN(const TensorView view, MapTensor(tensor, regions, endpoint->regions));
    if (!endpoint->tensors.emplace(name, view).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is registered twice"));
    }
  }
  absl::MutexLock lock(&mu_);
  endpoint->registration = next_registration_++;
  ++generation_;
  std::unique_ptr<Endpoint>& slot = endpoints_[EndpointKey(spec.model(), spec.rank())];
  if (slot != nullptr) Retire(std::move(slot));
  slot = std::move(endpoint);
  return absl::OkStatus();
}

void TensorRegistry::Retire(std::unique_ptr<Endpoint> endpoint) {
  const absl::Time now = absl::Now();
  retired_.erase(
      std::remove_if(retired_.begin(), retired_.end(),
                     [now](const auto& retired) { return now - retired.first > kMaxRequestTime; }),
      retired_.end());
  retired_.emplace_back(now, std::move(endpoint));
}

void TensorRegistry::Remove(const EndpointKey& endpoint) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) return;
  Retire(std::move(it->second));
  endpoints_.erase(it);
  ++generation_;
}

uint64_t TensorRegistry::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

absl::StatusOr<const TensorRegistry::Endpoint*> TensorRegistry::Registered(
    const EndpointKey& endpoint) const {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) {
    return absl::NotFoundError(
        absl::StrCat("endpoint ", Describe(endpoint), " is not registered on this agent"));
  }
  return it->second.get();
}

absl::StatusOr<const TensorRegistry::Endpoint*> TensorRegistry::Present(
    const EndpointKey& endpoint) const {
  ASSIGN_OR_RETURN(const Endpoint* registered, Registered(endpoint));
  if (registered->gone) {
    return absl::FailedPreconditionError(
        absl::StrCat("the framework process of ", Describe(endpoint),
                     " has exited (or closed its endpoint); register it again"));
  }
  return registered;
}

absl::StatusOr<uint64_t> TensorRegistry::Registration(const EndpointKey& endpoint) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const Endpoint* registered, Registered(endpoint));
  return registered->registration;
}

void TensorRegistry::MarkGone(const EndpointKey& endpoint, uint64_t registration) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end() || it->second->registration != registration) return;
  it->second->gone = true;
  ++generation_;
  // Its process can no longer unlink its regions' names; the mappings stay.
  for (const auto& region : it->second->regions) {
    (void)SharedMemoryRegion::Unlink(region->name());
  }
}

absl::Status TensorRegistry::CheckPresent(const EndpointKey& endpoint) const {
  absl::MutexLock lock(&mu_);
  return Present(endpoint).status();
}

absl::StatusOr<TensorView> TensorRegistry::Find(const EndpointKey& endpoint,
                                                const std::string& tensor) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const Endpoint* present, Present(endpoint));
  auto tensor_it = present->tensors.find(tensor);
  if (tensor_it == present->tensors.end()) {
    return absl::NotFoundError(
        absl::StrCat("endpoint ", Describe(endpoint), " has no tensor '", tensor, "'"));
  }
  return tensor_it->second;
}

absl::StatusOr<EndpointTensors> TensorRegistry::Tensors(const EndpointKey& endpoint) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const Endpoint* present, Present(endpoint));
  EndpointTensors out;
  out.registration = present->registration;
  for (const v1::LocalTensor& tensor : present->request.tensors()) {
    out.tensors.push_back(present->tensors.at(tensor.spec().name()));
  }
  return out;
}

std::vector<v1::LocalRegisterEndpointRequest> TensorRegistry::Registrations() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::LocalRegisterEndpointRequest> out;
  for (const auto& [key, endpoint] : endpoints_) out.push_back(endpoint->request);
  return out;
}

void TensorRegistry::SetVersion(const EndpointKey& endpoint, int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find(endpoint);
  if (it != endpoints_.end()) it->second->version = version;
}

absl::StatusOr<int64_t> TensorRegistry::GetVersion(const EndpointKey& endpoint) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const Endpoint* registered, Registered(endpoint));
  return registered->version;
}

}  // namespace paramsync::agent
