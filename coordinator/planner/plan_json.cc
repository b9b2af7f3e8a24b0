#include "coordinator/planner/plan_json.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace paramsync::planner {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;  // Keeps the documented field order.

std::string Join(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// The member `key` of object `object`, or nullptr when it is absent or null.
absl::StatusOr<const Json*> Member(const Json& object, absl::string_view path,
                                   absl::string_view key, bool required) {
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) {
    if (!required) return nullptr;
    return absl::InvalidArgumentError(absl::StrCat(Join(path, key), " is missing; it is required"));
  }
  return &*it;
}

std::string TypeError(absl::string_view field, absl::string_view wanted, const Json& value) {
  return absl::StrCat(field, ": expected ", wanted, ", got ", value.type_name(), " ",
                      value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// Reads an integer member into `out`, leaving it unchanged when absent and
// optional.
absl::Status ReadInt(const Json& object, absl::string_view path, absl::string_view key,
                     bool required, int& out) {
  ASSIGN_OR_RETURN(const Json* value, Member(object, path, key, required));
  if (value == nullptr) return absl::OkStatus();
  const std::string field = Join(path, key);
  if (value->is_number_unsigned()) {
    if (value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(field, " is out of range"));
    }
    out = static_cast<int>(value->get<uint64_t>());
    return absl::OkStatus();
  }
  if (value->is_number_integer()) {
    const int64_t v = value->get<int64_t>();
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(field, " is out of range"));
    }
    out = static_cast<int>(v);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(TypeError(field, "an integer", *value));
}

absl::Status ReadBool(const Json& object, absl::string_view key, bool& out) {
  ASSIGN_OR_RETURN(const Json* value, Member(object, "", key, /*required=*/false));
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_boolean()) return absl::InvalidArgumentError(TypeError(key, "a boolean", *value));
  out = value->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const Json& object, absl::string_view path, absl::string_view key,
                        bool required, std::string& out) {
  ASSIGN_OR_RETURN(const Json* value, Member(object, path, key, required));
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_string()) {
    return absl::InvalidArgumentError(TypeError(Join(path, key), "a string", *value));
  }
  out = value->get<std::string>();
  return absl::OkStatus();
}

absl::StatusOr<ModelParallelism> ReadModel(const Json& root, absl::string_view side,
                                           absl::string_view default_engine) {
  ASSIGN_OR_RETURN(const Json* object, Member(root, "", side, /*required=*/true));
  if (!object->is_object()) {
    return absl::InvalidArgumentError(TypeError(side, "an object", *object));
  }
  ModelParallelism model;
  model.engine = std::string(default_engine);
  RETURN_IF_ERROR(ReadString(*object, side, "engine", /*required=*/false, model.engine));
  RETURN_IF_ERROR(ReadInt(*object, side, "tp", /*required=*/false, model.tp));
  RETURN_IF_ERROR(ReadInt(*object, side, "pp", /*required=*/false, model.pp));
  RETURN_IF_ERROR(ReadInt(*object, side, "ep", /*required=*/false, model.ep));
  RETURN_IF_ERROR(ReadInt(*object, side, "dp", /*required=*/false, model.dp));
  RETURN_IF_ERROR(ReadInt(*object, side, "replicas", /*required=*/false, model.replicas));
  return model;
}

absl::StatusOr<EndpointPlacement> ReadEndpoint(const Json& object, const std::string& path) {
  if (!object.is_object()) return absl::InvalidArgumentError(TypeError(path, "an object", object));
  EndpointPlacement e;
  std::string model;
  RETURN_IF_ERROR(ReadString(object, path, "model", /*required=*/true, model));
  if (model != "src" && model != "dst") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".model is \"", model, "\"; accepted: \"src\", \"dst\""));
  }
  e.is_src = model == "src";
  for (auto [key, field] : {std::pair{"rank", &e.rank},
                            {"replica", &e.replica},
                            {"local_rank", &e.local_rank},
                            {"node", &e.node},
                            {"gpu", &e.gpu},
                            {"tp_rank", &e.tp_rank},
                            {"pp_rank", &e.pp_rank},
                            {"ep_rank", &e.ep_rank},
                            {"dp_rank", &e.dp_rank}}) {
    RETURN_IF_ERROR(ReadInt(object, path, key, /*required=*/true, *field));
  }
  return e;
}

absl::StatusOr<SyncTopology> ReadTopology(const Json& root) {
  if (!root.is_object()) {
    return absl::InvalidArgumentError(TypeError("topology", "an object", root));
  }
  SyncTopology topology;
  RETURN_IF_ERROR(ReadString(root, "", "group_name", /*required=*/true, topology.group_name));
  std::string comm_type;
  RETURN_IF_ERROR(ReadString(root, "", "comm_type", /*required=*/true, comm_type));
  ASSIGN_OR_RETURN(topology.comm_type, ParseCommType(comm_type));
  std::string regroup = "alltoall";
  RETURN_IF_ERROR(ReadString(root, "", "regroup_comm_type", /*required=*/false, regroup));
  ASSIGN_OR_RETURN(topology.regroup_comm_type, ParseRegroupCommType(regroup));
  RETURN_IF_ERROR(ReadBool(root, "hep", topology.hep));
  RETURN_IF_ERROR(ReadBool(root, "colocated", topology.colocated));
  ASSIGN_OR_RETURN(topology.src, ReadModel(root, "src", kEngineMegatron));
  ASSIGN_OR_RETURN(topology.dst, ReadModel(root, "dst", kEngineVllm));
  ASSIGN_OR_RETURN(const Json* endpoints, Member(root, "", "endpoints", /*required=*/false));
  if (endpoints != nullptr) {
    if (!endpoints->is_array()) {
      return absl::InvalidArgumentError(TypeError("endpoints", "an array or null", *endpoints));
    }
    for (size_t i = 0; i < endpoints->size(); ++i) {
      ASSIGN_OR_RETURN(EndpointPlacement e,
                       ReadEndpoint((*endpoints)[i], absl::StrCat("endpoints[", i, "]")));
      topology.endpoints.push_back(e);
    }
  }
  return topology;
}

OrderedJson PairsToJson(const std::vector<std::pair<int, int>>& pairs) {
  OrderedJson out = OrderedJson::array();
  for (const auto& [sender, receiver] : pairs) out.push_back({sender, receiver});
  return out;
}

}  // namespace

absl::StatusOr<SyncTopology> TopologyFromJson(const std::string& json_text) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number overflow.
    return absl::InvalidArgumentError(absl::StrCat("topology is not valid JSON: ", e.what()));
  }
  try {
    return ReadTopology(root);
  } catch (const Json::exception& e) {
    // Every access above is type-checked first; this is a backstop.
    return absl::InvalidArgumentError(absl::StrCat("topology: ", e.what()));
  }
}

std::string PlanToJson(const SyncPlan& plan) {
  OrderedJson out;
  out["comm_type"] = std::string(CommTypeName(plan.comm_type));
  out["regroup_comm_type"] = std::string(RegroupCommTypeName(plan.regroup_comm_type));
  out["tp_num_mapping"] = plan.tp_num_mapping;
  out["src_dp_ranks"] = plan.src_dp_ranks;
  out["dst_dp_ranks"] = plan.dst_dp_ranks;
  out["stage1"] = PairsToJson(plan.stage1);
  out["stage2"] = PairsToJson(plan.stage2);
  out["routed_experts"] = PairsToJson(plan.routed_experts);
  out["regroup_groups"] =
      plan.regroup_groups.empty() ? OrderedJson() : OrderedJson(plan.regroup_groups);
  out["collective_groups"] = plan.collective_groups;
  out["send_order"] = plan.send_order.empty() ? OrderedJson() : OrderedJson(plan.send_order);
  return out.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

std::string ErrorToJson(const absl::Status& status) {
  Json out;
  out["error"]["code"] = absl::StatusCodeToString(status.code());
  out["error"]["message"] = std::string(status.message());
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace paramsync::planner
