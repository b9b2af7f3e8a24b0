#include "common/layouts/name_template.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace paramsync::layouts {

std::string RenderName(absl::string_view name_template, const NameIndices& indices) {
  std::vector<std::pair<absl::string_view, std::string>> replacements;
  if (indices.layer >= 0) replacements.emplace_back("{L}", absl::StrCat(indices.layer));
  if (indices.expert >= 0) replacements.emplace_back("{E}", absl::StrCat(indices.expert));
  return absl::StrReplaceAll(name_template, replacements);
}

}  // namespace paramsync::layouts
