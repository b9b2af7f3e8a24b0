#include "tests/reshard/reshard_topology.h"

#include "absl/strings/str_cat.h"

namespace paramsync::coordinator::testing {

v1::ParameterSpec Tensor(const std::string& name, std::vector<int64_t> shape,
                         std::optional<int> split, v1::DType dtype) {
  v1::ParameterSpec p;
  p.set_name(name);
  p.set_dtype(dtype);
  p.mutable_shape()->Add(shape.begin(), shape.end());
  if (split.has_value()) p.set_tp_split_dim(*split);
  return p;
}

std::vector<EndpointRecord> Endpoints(const std::string& model, bool trainer, const Side& side,
                                      const std::function<int(int rank)>& agent_of,
                                      const TensorsOf& tensors_of) {
  std::vector<EndpointRecord> out;
  const int ranks = side.tp * side.pp * side.copies;
  for (int rank = 0; rank < ranks; ++rank) {
    EndpointRecord e;
    e.spec.set_model(model);
    e.spec.set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
    e.spec.set_rank(rank);
    v1::ParallelConfig* p = e.spec.mutable_parallel();
    p->set_tp_size(side.tp);
    p->set_pp_size(side.pp);
    p->set_ep_size(trainer ? side.ep : 1);
    p->set_dp_size(trainer ? side.copies : 1);
    p->set_tp_rank(rank % side.tp);
    int stage = 0;
    int ep_rank = 0;
    if (trainer) {  // Megatron: pp_rank * tp * dp + dp_rank * tp + tp_rank.
      stage = rank / (side.tp * side.copies);
      p->set_dp_rank((rank / side.tp) % side.copies);
      ep_rank = p->dp_rank() % side.ep;
      p->set_ep_rank(ep_rank);
    } else {  // replica * tp * pp + local_rank, local_rank = pp_rank * tp + tp_rank.
      const int local = rank % (side.tp * side.pp);
      stage = local / side.tp;
      e.spec.set_replica(rank / (side.tp * side.pp));
      e.spec.set_local_rank(local);
    }
    p->set_pp_rank(stage);
    const std::vector<v1::ParameterSpec> tensors = tensors_of(side, rank % side.tp, stage, ep_rank);
    e.parameters.assign(tensors.begin(), tensors.end());
    e.agent_id = absl::StrCat("agent-", agent_of(rank));
    out.push_back(std::move(e));
  }
  return out;
}

absl::flat_hash_map<std::string, v1::AgentInfo> Agents(int count, int hosts) {
  absl::flat_hash_map<std::string, v1::AgentInfo> agents;
  for (int a = 0; a < count; ++a) {
    v1::AgentInfo& info = agents[absl::StrCat("agent-", a)];
    info.set_agent_id(absl::StrCat("agent-", a));
    info.set_host(absl::StrCat("node", a * hosts / count));
    info.set_device(absl::StrCat("cpu:", a));
    info.set_address(absl::StrCat("127.0.0.1:", 7000 + a));
  }
  return agents;
}

absl::StatusOr<SyncParticipants> Participants(
    const std::vector<EndpointRecord>& src, const std::vector<EndpointRecord>& dst,
    const absl::flat_hash_map<std::string, v1::AgentInfo>& agents, bool hep) {
  v1::SyncGroupSpec group;
  group.set_name("g");
  group.set_src_model("t");
  group.set_dst_model("i");
  group.set_hep(hep);
  return BuildSyncParticipants(group, src, dst, agents);
}

}  // namespace paramsync::coordinator::testing
