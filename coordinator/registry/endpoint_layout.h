// File: coordinator/registry/endpoint_layout.h
// -----------------------------------------------------------------------------
// An endpoint that names its framework layout (EndpointSpec.layout) instead of
// listing logical pieces gets them at registration: the coordinator expands
// the layout for the endpoint's rank (common/layouts/expand_layout.h) and
// gives each registered tensor the pieces of the layout's tensor of its name.
// Pure.
#ifndef PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_LAYOUT_H_
#define PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_LAYOUT_H_

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// `parameters` as registered, with their logical pieces filled in from
// `endpoint.layout` when it is set (unchanged when it is not). The registered
// tensors must be exactly the layout's tensors of this rank, each of the
// layout's shape (dtypes stay as registered). INVALID_ARGUMENT naming the
// endpoint and the field or tensor: a layout ExpandLayout refuses, a tensor
// the layout does not have (some it has are listed) or of another shape, a
// layout tensor not registered, or pieces sent along with a layout. LoRA
// adapters (ParameterSpec.lora) are no layout's tensors: they stay as
// registered, with their own pieces or the default ones.
absl::StatusOr<google::protobuf::RepeatedPtrField<v1::ParameterSpec>> WithLayoutPieces(
    const v1::EndpointSpec& endpoint,
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_LAYOUT_H_
