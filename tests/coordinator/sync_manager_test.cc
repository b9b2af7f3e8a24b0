// SyncManager's plan cache, driven through GetPlan with real registries (no
// agent is contacted to plan).
#include "coordinator/sync/sync_manager.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/str_cat.h"

namespace paramsync::coordinator {
namespace {

v1::AgentInfo Agent(int i) {
  v1::AgentInfo info;
  info.set_address(absl::StrCat("127.0.0.1:", 7000 + i));
  info.set_host("node0");
  info.set_device(absl::StrCat("cpu:", i));
  return info;
}

v1::RegisterEndpointRequest Endpoint(const std::string& agent_id, const std::string& model,
                                     v1::Role role) {
  v1::RegisterEndpointRequest request;
  request.set_agent_id(agent_id);
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model(model);
  e->set_role(role);
  {
    v1::ParallelConfig* p = e->mutable_parallel();
    p->set_tp_size(1);
    p->set_pp_size(1);
    p->set_ep_size(1);
    p->set_dp_size(1);
  }
  v1::ParameterSpec* w = request.add_parameters();
  w->set_name("w");
  w->set_dtype(v1::DTYPE_FLOAT32);
  w->add_shape(4);
  return request;
}

TEST_CASE("Plans are cached until agents or endpoints change", "[sync_manager]") {
  AgentRegistry agents;
  EndpointRegistry endpoints(&agents);
  ErrorChannel errors;
  AgentClientPool clients;
  SyncExecutor executor(&clients);
  SyncManager syncs(&agents, &endpoints, &executor, &errors);

  const std::string a = *agents.Register(Agent(0));
  const std::string b = *agents.Register(Agent(1));
  REQUIRE(endpoints.Register(Endpoint(a, "trainer", v1::ROLE_TRAINER)).ok());
  REQUIRE(endpoints.Register(Endpoint(b, "vllm", v1::ROLE_INFERENCE)).ok());
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  REQUIRE(syncs.CreateGroup(spec).ok());

  absl::StatusOr<v1::SyncPlan> plan = syncs.GetPlan("g");
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->stage1_size() == 1);
  CHECK(syncs.plans_built() == 1);
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 1);

  // Neither heartbeats nor version updates change the topology.
  REQUIRE(agents.Heartbeat(a).ok());
  endpoints.SetVersion("vllm", 0, 7);
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 1);

  // A re-registered endpoint (its process restarted) does.
  REQUIRE(endpoints.Register(Endpoint(b, "vllm", v1::ROLE_INFERENCE)).ok());
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 2);

  // So does an agent registering again (it restarted: new id, new address maybe).
  const std::string b2 = *agents.Register(Agent(1));
  CHECK(syncs.GetPlan("g").status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(endpoints.Register(Endpoint(b2, "vllm", v1::ROLE_INFERENCE)).ok());
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 3);
}

TEST_CASE("Group specs are validated; the same spec twice is accepted", "[sync_manager]") {
  AgentRegistry agents;
  EndpointRegistry endpoints(&agents);
  ErrorChannel errors;
  AgentClientPool clients;
  SyncExecutor executor(&clients);
  SyncManager syncs(&agents, &endpoints, &executor, &errors);
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("t");
  spec.set_dst_model("i");
  REQUIRE(syncs.CreateGroup(spec).ok());
  REQUIRE(syncs.CreateGroup(spec).ok());
  v1::SyncGroupSpec other = spec;
  other.set_dst_model("j");
  CHECK(syncs.CreateGroup(other).code() == absl::StatusCode::kAlreadyExists);
  other.set_name("bad name!");
  CHECK(syncs.CreateGroup(other).code() == absl::StatusCode::kInvalidArgument);
  CHECK(syncs.GetPlan("missing").status().code() == absl::StatusCode::kNotFound);
  CHECK(syncs.GetPlan("g").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace paramsync::coordinator
