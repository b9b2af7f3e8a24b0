// File: coordinator/registry/lora_validation.h
// -----------------------------------------------------------------------------
// Checks of the LoRA adapters one endpoint registers (ParameterSpec.lora), at
// registration, so that a sync never finds an adapter its agent cannot merge.
// Pure.
#ifndef PARAMSYNC_COORDINATOR_REGISTRY_LORA_VALIDATION_H_
#define PARAMSYNC_COORDINATOR_REGISTRY_LORA_VALIDATION_H_

#include "absl/status/status.h"
#include "google/protobuf/repeated_field.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// Whether `parameter` is a LoRA adapter matrix rather than a weight.
inline bool IsLoraAdapter(const v1::ParameterSpec& parameter) {
  return parameter.lora().role() != v1::LORA_ROLE_UNSPECIFIED;
}

// The adapters of `endpoint`'s `parameters` (already checked by
// ValidateParameters: unique names, valid dtypes and shapes). Every adapter has
// a known role and a finite, non-zero scale. One that names a base (required
// on trainer endpoints, whose agents merge adapters into their bases; an
// inference endpoint may leave it empty for adapters-only syncs) must name a
// 2-D float32, float16 or bfloat16 weight W [m, n] of the same registration
// that is not an adapter, and share its dtype; each such base has exactly one
// A [r, n] and one B [m, r] (r >= 1, the same r) stating the same scale, so that
// W + scale * B @ A is defined on this rank's shards. INVALID_ARGUMENT naming
// the endpoint, the tensor, the field and what is accepted.
absl::Status ValidateLoraAdapters(
    const v1::EndpointSpec& endpoint,
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_REGISTRY_LORA_VALIDATION_H_
