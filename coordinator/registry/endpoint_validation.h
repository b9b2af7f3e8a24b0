// File: coordinator/registry/endpoint_validation.h
// -----------------------------------------------------------------------------
// Checks of one endpoint registration on its own (pure). Each error is
// INVALID_ARGUMENT and names the field, the value and what is accepted.
#ifndef PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_VALIDATION_H_
#define PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// Longest model or parameter name accepted.
inline constexpr size_t kMaxNameLength = 1024;

absl::Status ValidateEndpointSpec(const v1::EndpointSpec& endpoint);
absl::Status ValidateParameters(
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters);

// Most logical pieces one tensor may have (ParameterSpec.logical): fused QKV
// with per-head pieces needs a few per KV head.
inline constexpr int kMaxLogicalPiecesPerTensor = 1024;

// The explicit logical pieces of `endpoint`'s parameters (already checked by
// ValidateParameters): each piece's ranks equal its tensor's, its boxes lie
// inside its tensor and its logical shape with equal extents, pieces of one
// tensor do not overlap, and pieces of one logical name agree on its shape.
// The error names the endpoint, tensor and piece index.
absl::Status ValidateLogicalPieces(
    const v1::EndpointSpec& endpoint,
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters);

// Two endpoints of one model must agree on role and parallel sizes.
absl::Status CheckSameModelLayout(const v1::EndpointSpec& registered,
                                  const v1::EndpointSpec& incoming);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_VALIDATION_H_
