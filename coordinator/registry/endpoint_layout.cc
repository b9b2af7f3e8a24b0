#include "coordinator/registry/endpoint_layout.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/layouts/expand_layout.h"
#include "coordinator/registry/lora_validation.h"
#include "coordinator/reshard/box_algebra.h"

namespace paramsync::coordinator {
namespace {

// Names listed in a message about a tensor the layout does not have.
constexpr size_t kNamesListed = 8;

}  // namespace

absl::StatusOr<google::protobuf::RepeatedPtrField<v1::ParameterSpec>> WithLayoutPieces(
    const v1::EndpointSpec& endpoint,
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters) {
  if (!endpoint.has_layout()) return parameters;
  const std::string where =
      absl::StrCat("endpoint ", endpoint.model(), " rank ", endpoint.rank(), ": ");
  absl::StatusOr<std::vector<v1::ParameterSpec>> expanded = layouts::ExpandLayout(endpoint);
  if (!expanded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, expanded.status().message()));
  }
  const std::string layout =
      absl::StrCat("endpoint.layout (preset ", endpoint.layout().preset(), ", tp_rank ",
                   endpoint.parallel().tp_rank(), ", pp_rank ", endpoint.parallel().pp_rank(),
                   ", ep_rank ", endpoint.parallel().ep_rank(), ")");
  std::map<std::string, const v1::ParameterSpec*> by_name;
  for (const v1::ParameterSpec& spec : *expanded) by_name[spec.name()] = &spec;
  google::protobuf::RepeatedPtrField<v1::ParameterSpec> out = parameters;
  for (v1::ParameterSpec& parameter : out) {
    if (IsLoraAdapter(parameter)) continue;  // Not a model tensor: no layout has it.
    if (!parameter.logical().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "parameter '", parameter.name(),
          "' carries logical pieces and endpoint.layout is set; accepted: one or the other"));
    }
    auto found = by_name.find(parameter.name());
    if (found == by_name.end()) {
      std::vector<std::string> names;
      for (const v1::ParameterSpec& spec : *expanded) {
        if (names.size() == kNamesListed) break;
        names.push_back(spec.name());
      }
      return absl::InvalidArgumentError(absl::StrCat(
          where, "parameter '", parameter.name(), "' is not a tensor of ", layout, "; its ",
          expanded->size(), " tensors include ", absl::StrJoin(names, ", ")));
    }
    const v1::ParameterSpec& spec = *found->second;
    if (!std::equal(parameter.shape().begin(), parameter.shape().end(), spec.shape().begin(),
                    spec.shape().end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "parameter '", parameter.name(), "' has shape ", ShapeString(parameter.shape()),
          "; accepted: ", ShapeString(spec.shape()), ", its shape in ", layout));
    }
    *parameter.mutable_logical() = spec.logical();
    if (!parameter.has_tp_split_dim() && spec.has_tp_split_dim()) {
      parameter.set_tp_split_dim(spec.tp_split_dim());
    }
    by_name.erase(found);
  }
  if (!by_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, layout, " has tensor '", by_name.begin()->first, "' and ", by_name.size() - 1,
        " more that the endpoint did not register; accepted: every tensor of the "
        "layout at this rank"));
  }
  return out;
}

}  // namespace paramsync::coordinator
