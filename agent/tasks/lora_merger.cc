#include "agent/tasks/lora_merger.h"

#include <glog/logging.h>

#include <optional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/dtype.h"
#include "common/low_rank_merge.h"
#include "common/status_macros.h"
#include "common/status_message.h"

namespace paramsync::agent {
namespace {

std::string Describe(const EndpointKey& endpoint) {
  return absl::StrCat(endpoint.first, " rank ", endpoint.second);
}

std::string Where(const EndpointKey& endpoint, const std::string& tensor) {
  return absl::StrCat("LoRA merge of endpoint ", Describe(endpoint), ", tensor '", tensor, "'");
}

absl::Status Invalid(const EndpointKey& endpoint, const std::string& tensor,
                     absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Where(endpoint, tensor), ": ", what));
}

std::optional<LowRankElement> ElementOf(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32:
      return LowRankElement::kFloat32;
    case v1::DTYPE_FLOAT16:
      return LowRankElement::kFloat16;
    case v1::DTYPE_BFLOAT16:
      return LowRankElement::kBfloat16;
    default:
      return std::nullopt;
  }
}

std::string ShapeText(const v1::ParameterSpec& spec) {
  return absl::StrCat("[", absl::StrJoin(spec.shape(), ", "), "]");
}

// The adapters registered for one base weight.
struct Adapters {
  std::vector<const TensorView*> a;
  std::vector<const TensorView*> b;
};

std::string Names(const std::vector<const TensorView*>& views) {
  return absl::StrJoin(views, ", ", [](std::string* out, const TensorView* view) {
    absl::StrAppend(out, "'", view->spec->name(), "'");
  });
}

// The checked merge of `base` with its single A and B (errors name them).
absl::StatusOr<LowRankMerge> CheckedMerge(const EndpointKey& endpoint, const TensorView& base,
                                          const TensorView& a, const TensorView& b) {
  const std::string& name = base.spec->name();
  for (const TensorView* adapter : {&a, &b}) {
    const double scale = adapter->spec->lora().scale();
    if (!MergeableLoraScale(scale)) {
      return Invalid(endpoint, adapter->spec->name(),
                     absl::StrCat("lora.scale is ", scale,
                                  "; accepted: finite and non-zero, also as float32"));
    }
  }
  const double scale = a.spec->lora().scale();
  if (b.spec->lora().scale() != scale) {
    return Invalid(endpoint, name,
                   absl::StrCat("its adapters' lora.scale differ: '", a.spec->name(), "' states ",
                                scale, ", '", b.spec->name(), "' ", b.spec->lora().scale(),
                                "; accepted: the same alpha / r on A and B"));
  }
  const std::optional<LowRankElement> element = ElementOf(base.spec->dtype());
  if (!element.has_value() || a.spec->dtype() != base.spec->dtype() ||
      b.spec->dtype() != base.spec->dtype()) {
    return Invalid(endpoint, name,
                   absl::StrCat("W, A ('", a.spec->name(), "') and B ('", b.spec->name(), "') are ",
                                DTypeName(base.spec->dtype()), ", ", DTypeName(a.spec->dtype()),
                                " and ", DTypeName(b.spec->dtype()),
                                "; accepted: all float32, all float16 or all bfloat16"));
  }
  const auto& w_shape = base.spec->shape();
  const auto& a_shape = a.spec->shape();
  const auto& b_shape = b.spec->shape();
  if (w_shape.size() != 2 || a_shape.size() != 2 || b_shape.size() != 2 ||
      a_shape[1] != w_shape[1] || b_shape[0] != w_shape[0] || b_shape[1] != a_shape[0]) {
    return Invalid(endpoint, name,
                   absl::StrCat("W is ", ShapeText(*base.spec), ", A ('", a.spec->name(), "') ",
                                ShapeText(*a.spec), ", B ('", b.spec->name(), "') ",
                                ShapeText(*b.spec), "; accepted: W [m, n], A [r, n], B [m, r]"));
  }
  LowRankMerge merge;
  merge.base = base.data;
  merge.a = a.data;
  merge.b = b.data;
  merge.rows = static_cast<uint64_t>(w_shape[0]);
  merge.cols = static_cast<uint64_t>(w_shape[1]);
  merge.rank = static_cast<uint64_t>(a_shape[0]);
  merge.scale = static_cast<float>(scale);
  merge.element = *element;
  if (absl::Status checked = CheckLowRankMerge(merge); !checked.ok()) {
    return Invalid(endpoint, name, checked.message());
  }
  return merge;
}

}  // namespace

absl::StatusOr<LoraMerger::Plan> LoraMerger::PlanEndpoint(const EndpointKey& endpoint) const {
  ASSIGN_OR_RETURN(const EndpointTensors tensors, tensors_->Tensors(endpoint));
  Plan plan{endpoint, tensors.registration, {}};
  absl::flat_hash_map<std::string, const TensorView*> by_name;
  std::map<std::string, Adapters> adapters;  // By base name: merges in a stable order.
  for (const TensorView& view : tensors.tensors) {
    by_name[view.spec->name()] = &view;
    if (!view.spec->has_lora()) continue;
    const v1::LoraSpec& lora = view.spec->lora();
    if (lora.role() != v1::LORA_ROLE_A && lora.role() != v1::LORA_ROLE_B) {
      return Invalid(endpoint, view.spec->name(),
                     absl::StrCat("lora.role is ",
                                  v1::LoraRole_IsValid(lora.role())
                                      ? v1::LoraRole_Name(lora.role())
                                      : absl::StrCat(static_cast<int>(lora.role())),
                                  "; accepted: LORA_ROLE_A, LORA_ROLE_B (or lora unset)"));
    }
    if (lora.base().empty()) {
      return Invalid(endpoint, view.spec->name(),
                     "lora.base is empty; accepted: the name of the base weight it adapts");
    }
    Adapters& pair = adapters[lora.base()];
    (lora.role() == v1::LORA_ROLE_A ? pair.a : pair.b).push_back(&view);
  }
  for (const auto& [base_name, pair] : adapters) {
    auto base = by_name.find(base_name);
    if (base == by_name.end()) {
      return Invalid(endpoint, base_name,
                     absl::StrCat("adapters ", Names(pair.a.empty() ? pair.b : pair.a),
                                  " name it as lora.base, and the endpoint registered no such "
                                  "tensor; accepted: a base weight of the same endpoint"));
    }
    if (base->second->spec->has_lora()) {
      return Invalid(endpoint, base_name,
                     "is named as lora.base but is itself an adapter; accepted: a base weight");
    }
    if (pair.a.size() != 1 || pair.b.size() != 1) {
      return Invalid(endpoint, base_name,
                     absl::StrCat("has ", pair.a.size(), " LORA_ROLE_A adapters (", Names(pair.a),
                                  ") and ", pair.b.size(), " LORA_ROLE_B (", Names(pair.b),
                                  "); accepted: exactly one of each"));
    }
    ASSIGN_OR_RETURN(const LowRankMerge merge,
                     CheckedMerge(endpoint, *base->second, *pair.a[0], *pair.b[0]));
    plan.merges.push_back({base_name, base->second->nbytes, merge});
  }
  return plan;
}

absl::Status LoraMerger::MergeOne(const PlannedMerge& planned, Held& held) {
  ASSIGN_OR_RETURN(std::unique_ptr<StagingBuffer> original, memory_->Allocate(planned.bytes));
  RETURN_IF_ERROR(memory_->Copy(original->data(), planned.merge.base, planned.bytes));
  held.weights.push_back({planned.tensor, planned.merge.base, std::move(original)});
  return memory_->MergeLowRank(planned.merge);
}

absl::StatusOr<v1::LoraResponse> LoraMerger::Merge(
    uint64_t sync_id, const google::protobuf::RepeatedPtrField<v1::EndpointRef>& endpoints) {
  if (sync_id == 0) return absl::InvalidArgumentError("sync_id must be > 0");
  const absl::Time start = absl::Now();
  absl::MutexLock lock(&mu_);
  // Everything is checked before anything changes.
  std::vector<Plan> plans;
  std::set<EndpointKey> listed;
  for (const v1::EndpointRef& ref : endpoints) {
    const EndpointKey endpoint(ref.model(), ref.rank());
    if (!listed.insert(endpoint).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoints lists ", Describe(endpoint), " twice; accepted: each once"));
    }
    ASSIGN_OR_RETURN(Plan plan, PlanEndpoint(endpoint));
    plans.push_back(std::move(plan));
  }
  for (const Plan& plan : plans) {
    auto earlier = held_.find(plan.endpoint);
    if (earlier == held_.end()) continue;
    LOG(WARNING) << "LoRA: endpoint " << Describe(plan.endpoint) << " is still merged under sync "
                 << earlier->second.sync_id << " (its restore never came); restoring it before "
                 << "merging for sync " << sync_id;
    int restored = 0;
    RETURN_IF_ERROR(RestoreEndpoint(plan.endpoint, &restored));
  }
  v1::LoraResponse response;
  absl::Status failed;
  std::vector<EndpointKey> merged;
  for (const Plan& plan : plans) {
    if (plan.merges.empty()) continue;
    Held& held = held_[plan.endpoint];
    held = Held{sync_id, plan.registration, {}};
    merged.push_back(plan.endpoint);
    for (const PlannedMerge& planned : plan.merges) {
      failed = MergeOne(planned, held);
      if (!failed.ok()) {
        failed = WithMessage(
            failed, absl::StrCat(Where(plan.endpoint, planned.tensor), ": ", failed.message()));
        break;
      }
      response.set_base_weights(response.base_weights() + 1);
      response.set_saved_bytes(response.saved_bytes() + static_cast<int64_t>(planned.bytes));
    }
    if (!failed.ok()) break;
  }
  if (!failed.ok()) {
    for (const EndpointKey& endpoint : merged) {
      int restored = 0;
      if (absl::Status undone = RestoreEndpoint(endpoint, &restored); !undone.ok()) {
        failed = WithMessage(
            failed, absl::StrCat(failed.message(), "; restoring what it merged failed too (the ",
                                 "copies are kept for a later restore): ", undone.message()));
      }
    }
    LOG(ERROR) << "LoRA merge for sync " << sync_id << " failed, nothing stays merged: " << failed;
    return failed;
  }
  response.set_duration_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  LOG(INFO) << "LoRA merge sync_id=" << sync_id << " endpoints=" << plans.size()
            << " base_weights=" << response.base_weights()
            << " saved_bytes=" << response.saved_bytes() << " ms=" << response.duration_ms();
  return response;
}

absl::Status LoraMerger::RestoreEndpoint(const EndpointKey& endpoint, int* restored) {
  auto it = held_.find(endpoint);
  Held& held = it->second;
  const absl::StatusOr<uint64_t> registration = tensors_->Registration(endpoint);
  if (!registration.ok() || *registration != held.registration ||
      !tensors_->CheckPresent(endpoint).ok()) {
    LOG(WARNING) << "LoRA: not restoring " << held.weights.size() << " base weight(s) of "
                 << Describe(endpoint) << " merged under sync " << held.sync_id
                 << ": the endpoint was registered again or its process exited since, so that "
                 << "memory no longer holds its weights; the copies are dropped";
    held_.erase(it);
    return absl::OkStatus();
  }
  absl::Status failed;
  std::vector<Saved> kept;
  for (Saved& saved : held.weights) {
    absl::Status copied = memory_->Copy(saved.base, saved.original->data(), saved.original->size());
    if (copied.ok()) {
      ++*restored;
      continue;
    }
    if (failed.ok()) {
      failed = WithMessage(
          copied, absl::StrCat(Where(endpoint, saved.tensor), ": restore: ", copied.message()));
    }
    kept.push_back(std::move(saved));
  }
  if (kept.empty()) {
    held_.erase(it);
  } else {
    held.weights = std::move(kept);
  }
  return failed;
}

absl::StatusOr<v1::LoraResponse> LoraMerger::Restore(uint64_t sync_id) {
  const absl::Time start = absl::Now();
  absl::MutexLock lock(&mu_);
  std::vector<EndpointKey> endpoints;
  for (const auto& [endpoint, held] : held_) {
    if (sync_id == 0 || held.sync_id == sync_id) endpoints.push_back(endpoint);
  }
  int restored = 0;
  absl::Status failed;
  for (const EndpointKey& endpoint : endpoints) {
    absl::Status status = RestoreEndpoint(endpoint, &restored);
    if (failed.ok()) failed = status;
  }
  if (!failed.ok()) {
    LOG(ERROR) << "LoRA restore for sync " << sync_id << " restored " << restored
               << " base weight(s) and failed: " << failed;
    return failed;
  }
  v1::LoraResponse response;
  response.set_base_weights(restored);
  response.set_duration_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  if (restored > 0) {
    LOG(INFO) << "LoRA restore sync_id=" << sync_id << " base_weights=" << restored
              << " ms=" << response.duration_ms();
  }
  return response;
}

}  // namespace paramsync::agent
