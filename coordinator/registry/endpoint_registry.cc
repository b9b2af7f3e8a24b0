#include "coordinator/registry/endpoint_registry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/registry/endpoint_layout.h"
#include "coordinator/registry/endpoint_validation.h"
#include "coordinator/registry/lora_validation.h"

namespace paramsync::coordinator {

absl::Status EndpointRegistry::Register(const v1::RegisterEndpointRequest& request) {
  const v1::EndpointSpec& spec = request.endpoint();
  RETURN_IF_ERROR(ValidateEndpointSpec(spec));
  RETURN_IF_ERROR(ValidateParameters(request.parameters()));
  RETURN_IF_ERROR(ValidateLoraAdapters(spec, request.parameters()));
  ASSIGN_OR_RETURN(google::protobuf::RepeatedPtrField<v1::ParameterSpec> parameters,
                   WithLayoutPieces(spec, request.parameters()));
  RETURN_IF_ERROR(ValidateLogicalPieces(spec, parameters));
  if (request.version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version is ", request.version(), "; must be >= 0 (0: never synced)"));
  }
  if (!agents_->Contains(request.agent_id())) {
    return absl::NotFoundError(absl::StrCat("agent '", request.agent_id(),
                                            "' is not registered; register the agent first"));
  }
  const auto key = std::make_pair(spec.model(), spec.rank());
  absl::MutexLock lock(&mu_);
  auto existing = endpoints_.find(key);
  if (existing != endpoints_.end() && existing->second.agent_id != request.agent_id() &&
      agents_->Contains(existing->second.agent_id)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "endpoint ", spec.model(), " rank ", spec.rank(), " is already registered by agent ",
        existing->second.agent_id, "; each rank lives on one agent"));
  }
  for (const auto& [other_key, other] : endpoints_) {
    if (other_key.first == spec.model() && other_key != key) {
      RETURN_IF_ERROR(CheckSameModelLayout(other.spec, spec));
      break;
    }
  }
  EndpointRecord record{
      spec, request.agent_id(), {parameters.begin(), parameters.end()}, request.version()};
  endpoints_[key] = std::move(record);
  ++generation_;
  return absl::OkStatus();
}

std::vector<EndpointRecord> EndpointRegistry::Model(const std::string& model) const {
  absl::MutexLock lock(&mu_);
  std::vector<EndpointRecord> out;
  for (auto it = endpoints_.lower_bound({model, INT32_MIN});
       it != endpoints_.end() && it->first.first == model; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<EndpointRecord> EndpointRegistry::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<EndpointRecord> out;
  for (const auto& [key, record] : endpoints_) out.push_back(record);
  return out;
}

std::map<std::pair<std::string, int64_t>, int> EndpointRegistry::CountByVersion() const {
  absl::MutexLock lock(&mu_);
  std::map<std::pair<std::string, int64_t>, int> counts;
  for (const auto& [key, record] : endpoints_) ++counts[{key.first, record.version}];
  return counts;
}

int64_t EndpointRegistry::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void EndpointRegistry::SetVersion(const std::string& model, int rank, int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find({model, rank});
  if (it == endpoints_.end()) return;
  it->second.version = version;
  it->second.interrupted_version = 0;
}

void EndpointRegistry::MarkInterrupted(const std::string& model, int rank, int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find({model, rank});
  if (it != endpoints_.end()) it->second.interrupted_version = version;
}

}  // namespace paramsync::coordinator
