#include "coordinator/planner/topology_validation.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/planner/replica_groups.h"

namespace paramsync::planner {
namespace {

absl::Status CheckSize(absl::string_view field, int value) {
  if (value < 1 || value > kMaxParallelSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value, "; accepted: 1 to ", kMaxParallelSize));
  }
  return absl::OkStatus();
}

absl::Status CheckSizes(absl::string_view side, const ModelParallelism& m) {
  RETURN_IF_ERROR(CheckSize(absl::StrCat(side, ".tp"), m.tp));
  RETURN_IF_ERROR(CheckSize(absl::StrCat(side, ".pp"), m.pp));
  RETURN_IF_ERROR(CheckSize(absl::StrCat(side, ".ep"), m.ep));
  RETURN_IF_ERROR(CheckSize(absl::StrCat(side, ".dp"), m.dp));
  return CheckSize(absl::StrCat(side, ".replicas"), m.replicas);
}

absl::Status CheckRankCount(absl::string_view what, int64_t count) {
  if (count > kMaxRanksPerSide) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", count, " ranks; accepted: up to ", kMaxRanksPerSide));
  }
  return absl::OkStatus();
}

// One endpoint field against the value the layout implies.
absl::Status CheckEndpointField(size_t index, const EndpointPlacement& e, absl::string_view field,
                                int value, int expected, absl::string_view rule) {
  if (value == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "endpoints[", index, "].", field, " is ", value, " for ", e.is_src ? "src" : "dst", " rank ",
      e.rank, "; accepted: ", expected, " (", rule, ")"));
}

absl::Status CheckTrainerEndpoint(size_t i, const EndpointPlacement& e,
                                  const ModelParallelism& src) {
  RETURN_IF_ERROR(CheckEndpointField(i, e, "replica", e.replica, 0, "the trainer is one replica"));
  RETURN_IF_ERROR(CheckEndpointField(i, e, "local_rank", e.local_rank, e.rank,
                                     "a trainer's local_rank is its rank"));
  const int dp_rank = (e.rank / src.tp) % src.dp;
  RETURN_IF_ERROR(CheckEndpointField(i, e, "tp_rank", e.tp_rank, e.rank % src.tp, "rank % src.tp"));
  RETURN_IF_ERROR(
      CheckEndpointField(i, e, "dp_rank", e.dp_rank, dp_rank, "(rank / src.tp) % src.dp"));
  RETURN_IF_ERROR(CheckEndpointField(i, e, "pp_rank", e.pp_rank, e.rank / (src.tp * src.dp),
                                     "rank / (src.tp * src.dp)"));
  return CheckEndpointField(i, e, "ep_rank", e.ep_rank, dp_rank % src.ep, "dp_rank % src.ep");
}

absl::Status CheckInferenceEndpoint(size_t i, const EndpointPlacement& e, int first_dst_rank,
                                    const ModelParallelism& dst) {
  const int replica_size = ReplicaRankCount(dst);
  if (e.replica < 0 || e.replica >= dst.replicas) {
    return absl::InvalidArgumentError(absl::StrCat("endpoints[", i, "].replica is ", e.replica,
                                                   "; accepted: 0 to ", dst.replicas - 1,
                                                   " (dst.replicas - 1)"));
  }
  const int local_rank = e.rank - first_dst_rank - e.replica * replica_size;
  if (e.local_rank != local_rank) {  // The rule's text only where it is needed.
    return CheckEndpointField(
        i, e, "local_rank", e.local_rank, local_rank,
        absl::StrCat("inference ranks are numbered replica by replica after the ", first_dst_rank,
                     " trainer ranks, ", replica_size, " per replica"));
  }
  RETURN_IF_ERROR(
      CheckEndpointField(i, e, "tp_rank", e.tp_rank, e.local_rank % dst.tp, "local_rank % dst.tp"));
  if (dst.engine == kEngineVllm) {
    RETURN_IF_ERROR(CheckEndpointField(i, e, "pp_rank", e.pp_rank, e.local_rank / dst.tp,
                                       "local_rank / dst.tp"));
    RETURN_IF_ERROR(CheckEndpointField(i, e, "dp_rank", e.dp_rank, 0,
                                       "a vllm replica has no data parallelism"));
    return CheckEndpointField(i, e, "ep_rank", e.ep_rank, 0,
                              "a vllm replica has no expert parallelism");
  }
  // A Megatron replica: data parallelism of size dst.ep, all of it expert parallel.
  const int dp_rank = (e.local_rank / dst.tp) % dst.ep;
  RETURN_IF_ERROR(
      CheckEndpointField(i, e, "dp_rank", e.dp_rank, dp_rank, "(local_rank / dst.tp) % dst.ep"));
  RETURN_IF_ERROR(CheckEndpointField(i, e, "pp_rank", e.pp_rank, e.local_rank / (dst.tp * dst.ep),
                                     "local_rank / (dst.tp * dst.ep)"));
  return CheckEndpointField(i, e, "ep_rank", e.ep_rank, dp_rank, "dp_rank % dst.ep");
}

}  // namespace

absl::Status ValidateParallelism(const SyncTopology& topology) {
  if (topology.group_name.empty()) {
    return absl::InvalidArgumentError(
        "group_name is empty; accepted: a non-empty name, the prefix of every collective group");
  }
  if (CommTypeName(topology.comm_type) == "unknown") {
    return absl::InvalidArgumentError(absl::StrCat(
        "comm_type is ", static_cast<int>(topology.comm_type), "; accepted: broadcast, p2p"));
  }
  if (RegroupCommTypeName(topology.regroup_comm_type) == "unknown") {
    return absl::InvalidArgumentError(absl::StrCat("regroup_comm_type is ",
                                                   static_cast<int>(topology.regroup_comm_type),
                                                   "; accepted: alltoall, allgather"));
  }
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  if (src.engine != kEngineMegatron) {
    return absl::InvalidArgumentError(
        absl::StrCat("src.engine is \"", src.engine, "\"; accepted: \"megatron\""));
  }
  if (dst.engine != kEngineVllm && dst.engine != kEngineMegatron) {
    return absl::InvalidArgumentError(
        absl::StrCat("dst.engine is \"", dst.engine, "\"; accepted: \"vllm\", \"megatron\""));
  }
  RETURN_IF_ERROR(CheckSizes("src", src));
  RETURN_IF_ERROR(CheckSizes("dst", dst));
  if (src.replicas != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("src.replicas is ", src.replicas,
                     "; accepted: 1 (the trainer is one model; its copies are src.dp)"));
  }
  if (dst.dp != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dst.dp is ", dst.dp, "; accepted: 1 (inference copies are counted by dst.replicas)"));
  }
  if (src.dp % src.ep != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "src.dp is ", src.dp, ", not a multiple of src.ep ", src.ep,
        "; accepted: a multiple of src.ep (Megatron carves expert parallelism out of data "
        "parallelism)"));
  }
  if (dst.engine == kEngineVllm && dst.ep != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dst.ep is ", dst.ep, " for a vllm replica; accepted: 1 (vllm has no expert parallelism)"));
  }
  RETURN_IF_ERROR(CheckRankCount("src (src.tp*src.pp*src.dp)", int64_t{src.tp} * src.pp * src.dp));
  return CheckRankCount("dst (dst.replicas*dst.tp*dst.pp*dst.ep)",
                        int64_t{dst.replicas} * dst.tp * dst.pp * dst.ep);
}

absl::Status ValidateEndpoints(const SyncTopology& topology) {
  const int num_src = TrainerRankCount(topology.src);
  const int num_dst = topology.dst.replicas * ReplicaRankCount(topology.dst);
  const std::string expected_count =
      absl::StrCat(num_src + num_dst, " (", num_src, " src ranks = src.tp*src.pp*src.dp, ", num_dst,
                   " dst ranks = dst.replicas*dst.tp*dst.pp*dst.ep)");
  if (topology.endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoints is empty; accepted: one endpoint per rank, ", expected_count));
  }
  if (topology.endpoints.size() != static_cast<size_t>(num_src + num_dst)) {
    return absl::InvalidArgumentError(absl::StrCat("endpoints has ", topology.endpoints.size(),
                                                   " entries; accepted: ", expected_count));
  }
  std::vector<int> index_of_rank(num_src + num_dst, -1);
  for (size_t i = 0; i < topology.endpoints.size(); ++i) {
    const EndpointPlacement& e = topology.endpoints[i];
    if (e.rank < 0 || e.rank >= num_src + num_dst) {
      return absl::InvalidArgumentError(absl::StrCat("endpoints[", i, "].rank is ", e.rank,
                                                     "; accepted: 0 to ", num_src + num_dst - 1));
    }
    if (index_of_rank[e.rank] >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoints[", i, "].rank is ", e.rank, ", already used by endpoints[",
                       index_of_rank[e.rank], "]; accepted: each rank exactly once"));
    }
    index_of_rank[e.rank] = static_cast<int>(i);
    if (e.is_src != (e.rank < num_src)) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoints[", i, "].model is ", e.is_src ? "src" : "dst", " for rank ",
                       e.rank, "; accepted: src for ranks 0 to ", num_src - 1, ", dst for ranks ",
                       num_src, " to ", num_src + num_dst - 1, " (trainer ranks come first)"));
    }
    if (e.node < 0 || e.gpu < 0) {
      return absl::InvalidArgumentError(absl::StrCat("endpoints[", i, "] has node ", e.node,
                                                     " and gpu ", e.gpu, "; accepted: both >= 0"));
    }
    RETURN_IF_ERROR(e.is_src ? CheckTrainerEndpoint(i, e, topology.src)
                             : CheckInferenceEndpoint(i, e, num_src, topology.dst));
  }
  return absl::OkStatus();
}

absl::Status ValidateTopology(const SyncTopology& topology) {
  RETURN_IF_ERROR(ValidateParallelism(topology));
  return ValidateEndpoints(topology);
}

}  // namespace paramsync::planner
