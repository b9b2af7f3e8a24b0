#include "coordinator/registry/lora_validation.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/low_rank_merge.h"
#include "coordinator/reshard/box_algebra.h"

namespace paramsync::coordinator {
namespace {

// The adapters of one base weight.
struct Pair {
  const v1::ParameterSpec* a = nullptr;
  const v1::ParameterSpec* b = nullptr;
};

bool MergeableDType(v1::DType dtype) {
  return dtype == v1::DTYPE_FLOAT32 || dtype == v1::DTYPE_FLOAT16 || dtype == v1::DTYPE_BFLOAT16;
}

std::string ShapeOf(const v1::ParameterSpec& tensor) { return ShapeString(tensor.shape()); }

// The adapter on its own: its role and scale.
absl::Status CheckAdapter(const v1::ParameterSpec& adapter) {
  const v1::LoraSpec& lora = adapter.lora();
  if (!v1::LoraRole_IsValid(lora.role())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lora.role is ", lora.role(),
        "; accepted: LORA_ROLE_A (1), LORA_ROLE_B (2), or unset for a tensor that is not an "
        "adapter"));
  }
  // Refused here, the adapter fails at registration rather than at its first
  // merge (agent/tasks/lora_merger.cc checks the same).
  if (!MergeableLoraScale(lora.scale())) {
    return absl::InvalidArgumentError(
        absl::StrCat("lora.scale is ", lora.scale(),
                     "; accepted: alpha / r, finite and non-zero, also as float32"));
  }
  return absl::OkStatus();
}

// The adapter against the base weight it names.
absl::Status CheckAgainstBase(const v1::ParameterSpec& adapter, const v1::ParameterSpec* base) {
  const std::string& name = adapter.lora().base();
  if (base == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("lora.base '", name,
                     "' is not a parameter of this registration; accepted: the name of the base "
                     "weight the adapter updates, registered with it"));
  }
  if (IsLoraAdapter(*base)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lora.base '", name, "' is itself a LoRA adapter; accepted: a weight that is not"));
  }
  if (base->shape_size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("lora.base '", name, "' has shape ",
                                                   ShapeOf(*base),
                                                   "; accepted: a 2-D base weight [m, n]"));
  }
  if (!MergeableDType(base->dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("lora.base '", name, "' has dtype ", DTypeName(base->dtype()),
                     "; accepted: a float32, float16 or bfloat16 base weight"));
  }
  if (adapter.dtype() != base->dtype()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype is ", DTypeName(adapter.dtype()), " but its lora.base '", name, "' is ",
                     DTypeName(base->dtype()), "; accepted: the base weight's dtype"));
  }
  const bool is_a = adapter.lora().role() == v1::LORA_ROLE_A;
  // A [r, n] shares n (dimension 1) with W [m, n]; B [m, r] shares m (dimension 0).
  const int shared = is_a ? 1 : 0;
  if (adapter.shape_size() != 2 || adapter.shape(shared) != base->shape(shared) ||
      adapter.shape(1 - shared) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape is ", ShapeOf(adapter), " for lora.base '", name, "' of shape ",
                     ShapeOf(*base), "; accepted: ",
                     is_a ? absl::StrCat("A [r, ", base->shape(1), "]")
                          : absl::StrCat("B [", base->shape(0), ", r]"),
                     " with r >= 1"));
  }
  return absl::OkStatus();
}

// Both adapters of one base agree with each other.
absl::Status CheckPair(const std::string& base, const Pair& pair) {
  if (pair.a == nullptr || pair.b == nullptr) {
    const v1::ParameterSpec& present = pair.a != nullptr ? *pair.a : *pair.b;
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", present.name(), "': lora.base '", base, "' has a ",
                     pair.a != nullptr ? "LORA_ROLE_A" : "LORA_ROLE_B", " adapter but no ",
                     pair.a != nullptr ? "LORA_ROLE_B" : "LORA_ROLE_A",
                     "; accepted: exactly one A and one B per base weight"));
  }
  if (pair.a->shape(0) != pair.b->shape(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", pair.b->name(), "': shape ", ShapeOf(*pair.b),
                     " has r = ", pair.b->shape(1), " but its A '", pair.a->name(), "' ",
                     ShapeOf(*pair.a), " has r = ", pair.a->shape(0), "; accepted: the same r"));
  }
  if (pair.a->lora().scale() != pair.b->lora().scale()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", pair.b->name(), "': lora.scale is ", pair.b->lora().scale(),
                     " but its A '", pair.a->name(), "' states ", pair.a->lora().scale(),
                     "; accepted: the same scale on the A and B of one base"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateLoraAdapters(
    const v1::EndpointSpec& endpoint,
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters) {
  const std::string where = absl::StrCat("endpoint ", endpoint.model(), " rank ", endpoint.rank());
  std::map<std::string, const v1::ParameterSpec*> by_name;
  for (const v1::ParameterSpec& parameter : parameters) by_name[parameter.name()] = &parameter;
  std::map<std::string, Pair> pairs;  // By base name.
  for (const v1::ParameterSpec& adapter : parameters) {
    if (!IsLoraAdapter(adapter)) continue;
    const std::string at = absl::StrCat(where, " tensor '", adapter.name(), "': ");
    absl::Status status = CheckAdapter(adapter);
    const std::string& base = adapter.lora().base();
    if (status.ok() && base.empty()) {
      if (endpoint.role() != v1::ROLE_TRAINER) continue;  // An adapters-only slot.
      status = absl::InvalidArgumentError(
          "lora.base is empty; accepted on a trainer endpoint: the name of the base weight the "
          "adapter updates (only inference endpoints may leave it empty)");
    }
    if (status.ok()) {
      auto found = by_name.find(base);
      status = CheckAgainstBase(adapter, found == by_name.end() ? nullptr : found->second);
    }
    if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat(at, status.message()));
    Pair& pair = pairs[base];
    const v1::ParameterSpec*& slot = adapter.lora().role() == v1::LORA_ROLE_A ? pair.a : pair.b;
    if (slot != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, "lora.base '", base, "' already has ", v1::LoraRole_Name(adapter.lora().role()),
          " adapter '", slot->name(), "'; accepted: exactly one A and one B per base weight"));
    }
    slot = &adapter;
  }
  for (const auto& [base, pair] : pairs) {
    if (absl::Status status = CheckPair(base, pair); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace paramsync::coordinator
