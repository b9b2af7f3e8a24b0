#include "tests/coordinator/plan_fixtures.h"

#include "absl/strings/str_cat.h"

namespace paramsync::coordinator::testing {

v1::ParameterSpec Param(const std::string& name, std::vector<int64_t> shape,
                        std::optional<int> split) {
  v1::ParameterSpec p;
  p.set_name(name);
  p.set_dtype(v1::DTYPE_BFLOAT16);
  for (int64_t d : shape) p.add_shape(d);
  if (split.has_value()) p.set_tp_split_dim(*split);
  return p;
}

std::vector<EndpointRecord> Model(const std::string& model, bool trainer, int tp, int replicas,
                                  int first_agent) {
  std::vector<EndpointRecord> out;
  for (int rank = 0; rank < tp * replicas; ++rank) {
    EndpointRecord e;
    e.spec.set_model(model);
    e.spec.set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
    e.spec.set_rank(rank);
    e.spec.set_replica(trainer ? 0 : rank / tp);
    e.spec.set_local_rank(rank % tp);
    v1::ParallelConfig* p = e.spec.mutable_parallel();
    p->set_tp_size(tp);
    p->set_pp_size(1);
    p->set_ep_size(1);
    p->set_dp_size(trainer ? replicas : 1);
    p->set_tp_rank(rank % tp);
    p->set_dp_rank(trainer ? rank / tp : 0);
    e.agent_id = absl::StrCat("agent-", first_agent + rank);
    e.parameters = {Param("qkv", {16 / tp, 8}, 0), Param("proj", {8, 16 / tp}, 1),
                    Param("norm", {8}, std::nullopt)};
    out.push_back(e);
  }
  return out;
}

absl::flat_hash_map<std::string, v1::AgentInfo> Agents(int count) {
  absl::flat_hash_map<std::string, v1::AgentInfo> agents;
  for (int i = 0; i < count; ++i) {
    v1::AgentInfo& a = agents[absl::StrCat("agent-", i)];
    a.set_agent_id(absl::StrCat("agent-", i));
    a.set_host("node0");
    a.set_device(absl::StrCat("cpu:", i));
    a.set_address(absl::StrCat("127.0.0.1:", 7000 + i));
  }
  return agents;
}

}  // namespace paramsync::coordinator::testing
