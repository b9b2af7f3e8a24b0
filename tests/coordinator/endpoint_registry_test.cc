#include "coordinator/registry/endpoint_registry.h"

#include <catch2/catch.hpp>
#include <string>

#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_validation.h"

namespace paramsync::coordinator {
namespace {

v1::AgentInfo Agent(const std::string& address) {
  v1::AgentInfo info;
  info.set_address(address);
  info.set_host("node0");
  info.set_device("cpu@" + address);
  return info;
}

v1::RegisterEndpointRequest Trainer(const std::string& agent_id, int tp_rank, int tp_size = 2) {
  v1::RegisterEndpointRequest request;
  request.set_agent_id(agent_id);
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model("trainer");
  e->set_role(v1::ROLE_TRAINER);
  e->set_rank(tp_rank);
  v1::ParallelConfig* p = e->mutable_parallel();
  p->set_tp_size(tp_size);
  p->set_pp_size(1);
  p->set_ep_size(1);
  p->set_dp_size(1);
  p->set_tp_rank(tp_rank);
  v1::ParameterSpec* w = request.add_parameters();
  w->set_name("w");
  w->set_dtype(v1::DTYPE_BFLOAT16);
  w->add_shape(4);
  w->add_shape(8);
  w->set_tp_split_dim(0);
  return request;
}

void CheckError(const absl::Status& status, absl::StatusCode code, const std::string& needle) {
  INFO(status.ToString());
  CHECK(status.code() == code);
  CHECK(std::string(status.message()).find(needle) != std::string::npos);
}

TEST_CASE("Agents get fresh ids; re-registering from an address replaces the old id",
          "[agent_registry]") {
  AgentRegistry agents;
  absl::StatusOr<std::string> first = agents.Register(Agent("127.0.0.1:1"));
  absl::StatusOr<std::string> second = agents.Register(Agent("127.0.0.1:2"));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(*first != *second);
  absl::StatusOr<std::string> again = agents.Register(Agent("127.0.0.1:1"));
  REQUIRE(again.ok());
  CHECK(agents.Heartbeat(*first).code() == absl::StatusCode::kNotFound);
  CHECK(agents.Heartbeat(*again).ok());
  CHECK(agents.List().size() == 2);
  // Another coordinator process never hands out the same ids.
  AgentRegistry restarted;
  CHECK(*restarted.Register(Agent("127.0.0.1:1")) != *first);
  CheckError(agents.Register(v1::AgentInfo()).status(), absl::StatusCode::kInvalidArgument,
             "agent.address");
}

TEST_CASE("Endpoints: duplicates, replacement and layout agreement", "[endpoint_registry]") {
  AgentRegistry agents;
  EndpointRegistry endpoints(&agents);
  const std::string a = *agents.Register(Agent("127.0.0.1:1"));
  const std::string b = *agents.Register(Agent("127.0.0.1:2"));
  REQUIRE(endpoints.Register(Trainer(a, 0)).ok());
  // The same agent again: the framework process restarted.
  REQUIRE(endpoints.Register(Trainer(a, 0)).ok());
  CheckError(endpoints.Register(Trainer(b, 0)), absl::StatusCode::kAlreadyExists,
             "already registered by agent");
  CheckError(endpoints.Register(Trainer(b, 1, 4)), absl::StatusCode::kInvalidArgument,
             "every rank of a model must agree");
  CheckError(endpoints.Register(Trainer("agent-99", 1)), absl::StatusCode::kNotFound, "agent-99");
  REQUIRE(endpoints.Register(Trainer(b, 1)).ok());
  CHECK(endpoints.Model("trainer").size() == 2);
  CHECK(endpoints.Model("other").empty());
  // Once its agent is gone, another agent may take the rank over.
  REQUIRE(agents.Register(Agent("127.0.0.1:1")).ok());  // Replaces agent `a`.
  CHECK(endpoints.Register(Trainer(b, 0)).ok());
}

TEST_CASE("An endpoint's version is what its agent reports holding", "[endpoint_registry]") {
  AgentRegistry agents;
  EndpointRegistry endpoints(&agents);
  const std::string a = *agents.Register(Agent("127.0.0.1:1"));
  // An agent re-registering with a restarted coordinator says what it holds.
  v1::RegisterEndpointRequest request = Trainer(a, 0);
  request.set_version(7);
  REQUIRE(endpoints.Register(request).ok());
  CHECK(endpoints.Model("trainer")[0].version == 7);
  endpoints.SetVersion("trainer", 0, 8);
  CHECK(endpoints.Model("trainer")[0].version == 8);
  // Its framework process registering again holds nothing synced yet.
  REQUIRE(endpoints.Register(Trainer(a, 0)).ok());
  CHECK(endpoints.Model("trainer")[0].version == 0);
  request.set_version(-1);
  CheckError(endpoints.Register(request), absl::StatusCode::kInvalidArgument, "version is -1");
}

TEST_CASE("Endpoint specs are validated field by field", "[endpoint_validation]") {
  v1::RegisterEndpointRequest good = Trainer("x", 1);
  REQUIRE(ValidateEndpointSpec(good.endpoint()).ok());
  REQUIRE(ValidateParameters(good.parameters()).ok());

  v1::EndpointSpec spec = good.endpoint();
  spec.set_model("");
  CheckError(ValidateEndpointSpec(spec), absl::StatusCode::kInvalidArgument, "endpoint.model");
  spec = good.endpoint();
  spec.set_role(v1::ROLE_UNSPECIFIED);
  CheckError(ValidateEndpointSpec(spec), absl::StatusCode::kInvalidArgument, "endpoint.role");
  spec = good.endpoint();
  spec.mutable_parallel()->set_tp_size(0);
  CheckError(ValidateEndpointSpec(spec), absl::StatusCode::kInvalidArgument, "tp_size is 0");
  spec = good.endpoint();
  spec.mutable_parallel()->set_tp_rank(-1);
  CheckError(ValidateEndpointSpec(spec), absl::StatusCode::kInvalidArgument, "tp_rank is -1");
  spec = good.endpoint();
  spec.set_rank(5);
  CheckError(ValidateEndpointSpec(spec), absl::StatusCode::kInvalidArgument,
             "pp_rank*tp*dp + dp_rank*tp + tp_rank");

  v1::EndpointSpec inference = good.endpoint();
  inference.set_role(v1::ROLE_INFERENCE);
  inference.set_replica(1);
  inference.set_local_rank(1);
  inference.set_rank(3);
  REQUIRE(ValidateEndpointSpec(inference).ok());
  inference.set_local_rank(0);
  CheckError(ValidateEndpointSpec(inference), absl::StatusCode::kInvalidArgument,
             "local_rank 0 % tp_size 2");

  v1::RegisterEndpointRequest params = good;
  params.mutable_parameters(0)->set_tp_split_dim(2);
  CheckError(ValidateParameters(params.parameters()), absl::StatusCode::kInvalidArgument,
             "tp_split_dim is 2");
  params = good;
  params.mutable_parameters(0)->set_dtype(static_cast<v1::DType>(42));
  CheckError(ValidateParameters(params.parameters()), absl::StatusCode::kInvalidArgument,
             "parameter 'w'");
  params = good;
  *params.add_parameters() = params.parameters(0);
  CheckError(ValidateParameters(params.parameters()), absl::StatusCode::kInvalidArgument,
             "listed twice");
  params = good;
  params.mutable_parameters(0)->set_shape(0, -4);
  CheckError(ValidateParameters(params.parameters()), absl::StatusCode::kInvalidArgument,
             "negative dimension");
}

}  // namespace
}  // namespace paramsync::coordinator
