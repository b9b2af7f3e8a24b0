// Endpoints that name a layout preset (EndpointSpec.layout) instead of listing
// logical pieces: the registry gives each registered tensor its pieces, and
// refuses tensors that do not match the layout, naming them.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/layouts/expand_layout.h"
#include "common/layouts/model_config.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "tests/coordinator/one_agent_registry.h"

namespace paramsync::coordinator {
namespace {

// vLLM TP rank 1 of 2 of qwen2-tiny, registering the layout's tensors with
// their names, dtypes and shapes only (as a framework process does).
v1::RegisterEndpointRequest VllmRank(const std::string& agent_id) {
  v1::RegisterEndpointRequest request;
  request.set_agent_id(agent_id);
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model("policy_vllm");
  e->set_role(v1::ROLE_INFERENCE);
  e->set_rank(1);
  e->set_local_rank(1);
  v1::ParallelConfig* p = e->mutable_parallel();
  p->set_tp_size(2);
  p->set_tp_rank(1);
  p->set_pp_size(1);
  p->set_ep_size(1);
  p->set_dp_size(1);
  e->mutable_layout()->set_preset("vllm");
  *e->mutable_layout()->mutable_model() = *layouts::NamedModelConfig("qwen2-tiny");
  absl::StatusOr<std::vector<v1::ParameterSpec>> tensors = layouts::ExpandLayout(*e);
  REQUIRE(tensors.ok());
  for (v1::ParameterSpec tensor : *tensors) {
    tensor.clear_logical();
    tensor.clear_tp_split_dim();
    *request.add_parameters() = tensor;
  }
  return request;
}

using Registry = testing::OneAgentRegistry;

void CheckError(const absl::Status& status, const std::string& needle) {
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find(needle) != std::string::npos);
}

TEST_CASE("A registered layout gives every tensor the pieces of the preset", "[endpoint_layout]") {
  Registry registry;
  const v1::RegisterEndpointRequest request = VllmRank(registry.agent_id);
  REQUIRE(registry.endpoints.Register(request).ok());
  const std::vector<EndpointRecord> records = registry.endpoints.Model("policy_vllm");
  REQUIRE(records.size() == 1);
  absl::StatusOr<std::vector<v1::ParameterSpec>> expected =
      layouts::ExpandLayout(request.endpoint());
  REQUIRE(expected.ok());
  REQUIRE(records[0].parameters.size() == expected->size());
  for (size_t i = 0; i < expected->size(); ++i) {
    INFO((*expected)[i].name());
    CHECK(records[0].parameters[i].SerializeAsString() == (*expected)[i].SerializeAsString());
  }
  // qkv_proj of TP rank 1: query heads 2-3, key/value head 1 (16 rows each).
  const v1::ParameterSpec& qkv = records[0].parameters[2];
  REQUIRE(qkv.name() == "model.layers.0.self_attn.qkv_proj.weight");
  REQUIRE(qkv.logical_size() == 3);
  CHECK(qkv.logical(1).logical_name() == "model.layers.0.self_attn.k_proj.weight");
  CHECK(qkv.logical(1).logical_box().start(0) == 16);
  CHECK(qkv.logical(1).local_box().start(0) == 32);
}

TEST_CASE("Tensors that do not match the layout are refused, naming them", "[endpoint_layout]") {
  Registry registry;
  const std::string where = "endpoint policy_vllm rank 1: ";
  v1::RegisterEndpointRequest request = VllmRank(registry.agent_id);
  request.mutable_parameters(0)->set_name("model.embed.weight");
  CheckError(registry.endpoints.Register(request),
             where +
                 "parameter 'model.embed.weight' is not a tensor of endpoint.layout (preset "
                 "vllm, tp_rank 1, pp_rank 0, ep_rank 0); its 31 tensors include "
                 "model.embed_tokens.weight, model.layers.0.input_layernorm.weight");
  request = VllmRank(registry.agent_id);
  request.mutable_parameters(2)->set_shape(0, 48);
  CheckError(registry.endpoints.Register(request),
             where +
                 "parameter 'model.layers.0.self_attn.qkv_proj.weight' has shape [48,64]; "
                 "accepted: [64,64], its shape in endpoint.layout");
  request = VllmRank(registry.agent_id);
  request.mutable_parameters()->RemoveLast();
  CheckError(registry.endpoints.Register(request),
             "has tensor 'lm_head.weight' and 0 more that the endpoint did not register");
  request = VllmRank(registry.agent_id);
  v1::LogicalPiece* piece = request.mutable_parameters(0)->add_logical();
  piece->set_logical_name("x");
  CheckError(registry.endpoints.Register(request),
             "parameter 'model.embed_tokens.weight' carries logical pieces and endpoint.layout "
             "is set; accepted: one or the other");
  request = VllmRank(registry.agent_id);
  request.mutable_endpoint()->mutable_layout()->set_preset("sglang");
  CheckError(registry.endpoints.Register(request), where + "endpoint.layout.preset is 'sglang'");
  CHECK(registry.endpoints.Model("policy_vllm").empty());
}

}  // namespace
}  // namespace paramsync::coordinator
