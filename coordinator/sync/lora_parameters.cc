#include "coordinator/sync/lora_parameters.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "coordinator/registry/lora_validation.h"

namespace paramsync::coordinator {
namespace {

bool HasAdapter(const std::vector<EndpointRecord>& endpoints) {
  for (const EndpointRecord& endpoint : endpoints) {
    for (const v1::ParameterSpec& parameter : endpoint.parameters) {
      if (IsLoraAdapter(parameter)) return true;
    }
  }
  return false;
}

// Drops the parameters of `endpoints` that are adapters (`adapters` false) or
// that are not (`adapters` true).
void KeepOnly(bool adapters, std::vector<EndpointRecord>& endpoints) {
  for (EndpointRecord& endpoint : endpoints) {
    std::vector<v1::ParameterSpec>& parameters = endpoint.parameters;
    parameters.erase(std::remove_if(parameters.begin(), parameters.end(),
                                    [adapters](const v1::ParameterSpec& parameter) {
                                      return IsLoraAdapter(parameter) != adapters;
                                    }),
                     parameters.end());
  }
}

}  // namespace

absl::StatusOr<AdaptedBases> ApplyLoraMode(const v1::SyncGroupSpec& group,
                                           std::vector<EndpointRecord>& trainer,
                                           std::vector<EndpointRecord>& inference) {
  const bool trainer_adapters = HasAdapter(trainer);
  const bool inference_adapters = HasAdapter(inference);
  AdaptedBases adapted;
  if (group.lora_mode() == v1::LORA_MODE_ADAPTERS_ONLY) {
    for (auto [has, side, model] :
         {std::tuple{trainer_adapters, "trainer", &group.src_model()},
          std::tuple{inference_adapters, "inference", &group.dst_model()}}) {
      if (!has) {
        return absl::FailedPreconditionError(
            absl::StrCat("sync group '", group.name(),
                         "' has lora_mode LORA_MODE_ADAPTERS_ONLY but ", side, " model '", *model,
                         "' registered no LoRA adapter (ParameterSpec.lora): nothing would sync"));
      }
    }
    KeepOnly(true, trainer);
    KeepOnly(true, inference);
    return adapted;
  }
  if (!trainer_adapters && !inference_adapters) return adapted;
  for (const EndpointRecord& endpoint : trainer) {
    for (const v1::ParameterSpec& parameter : endpoint.parameters) {
      // Registration made every trainer adapter name its base.
      if (IsLoraAdapter(parameter)) adapted[endpoint.spec.rank()].insert(parameter.lora().base());
    }
  }
  KeepOnly(false, trainer);
  KeepOnly(false, inference);
  return adapted;
}

}  // namespace paramsync::coordinator
