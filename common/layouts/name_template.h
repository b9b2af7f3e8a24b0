// File: common/layouts/name_template.h
// -----------------------------------------------------------------------------
// Parameter name templates: "{L}" stands for a layer index and "{E}" for an
// expert index, e.g. "decoder.layers.{L}.mlp.experts.local_experts.{E}.
// linear_fc1.weight". A layout rule names a rank's tensor with the indices its
// framework uses (Megatron-Core numbers a pipeline stage's layers and an EP
// rank's experts from 0) and the logical parameters with global ones. Pure.
#ifndef PARAMSYNC_COMMON_LAYOUTS_NAME_TEMPLATE_H_
#define PARAMSYNC_COMMON_LAYOUTS_NAME_TEMPLATE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace paramsync::layouts {

// Which layer and expert a name stands for; -1 where it has none.
struct NameIndices {
  int layer = -1;
  int expert = -1;
};

// `name_template` with every "{L}" replaced by indices.layer and every "{E}"
// by indices.expert (placeholders whose index is -1 are left as they are).
std::string RenderName(absl::string_view name_template, const NameIndices& indices);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_NAME_TEMPLATE_H_
