// LoRA adapters at registration (ParameterSpec.lora): what a trainer and an
// inference endpoint may register, and the errors that name the endpoint, the
// tensor and the field; through the real EndpointRegistry, layouts included.
#include "coordinator/registry/lora_validation.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common/layouts/expand_layout.h"
#include "common/layouts/model_config.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "tests/coordinator/one_agent_registry.h"

namespace paramsync::coordinator {
namespace {

v1::ParameterSpec Tensor(const std::string& name, std::vector<int64_t> shape,
                         v1::DType dtype = v1::DTYPE_BFLOAT16) {
  v1::ParameterSpec p;
  p.set_name(name);
  p.set_dtype(dtype);
  for (int64_t d : shape) p.add_shape(d);
  return p;
}

v1::ParameterSpec Adapter(const std::string& name, v1::LoraRole role, const std::string& base,
                          std::vector<int64_t> shape, double scale = 2.0,
                          v1::DType dtype = v1::DTYPE_BFLOAT16) {
  v1::ParameterSpec p = Tensor(name, std::move(shape), dtype);
  p.mutable_lora()->set_role(role);
  p.mutable_lora()->set_base(base);
  p.mutable_lora()->set_scale(scale);
  return p;
}

// A TP1 trainer rank 0 of `model` on `agent_id`, without parameters.
v1::RegisterEndpointRequest TrainerRank(const std::string& model, const std::string& agent_id) {
  v1::RegisterEndpointRequest request;
  request.set_agent_id(agent_id);
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model(model);
  e->set_role(v1::ROLE_TRAINER);
  v1::ParallelConfig* p = e->mutable_parallel();
  p->set_tp_size(1);
  p->set_pp_size(1);
  p->set_ep_size(1);
  p->set_dp_size(1);
  return request;
}

// A TP1 trainer rank 0 of model "t" with W [8, 6], its adapter A [4, 6] and B
// [8, 4], and a norm.
v1::RegisterEndpointRequest Trainer(const std::string& agent_id = "agent") {
  v1::RegisterEndpointRequest request = TrainerRank("t", agent_id);
  *request.add_parameters() = Tensor("w", {8, 6});
  *request.add_parameters() = Adapter("w.lora_A", v1::LORA_ROLE_A, "w", {4, 6});
  *request.add_parameters() = Adapter("w.lora_B", v1::LORA_ROLE_B, "w", {8, 4});
  *request.add_parameters() = Tensor("norm", {8});
  return request;
}

absl::Status Validate(const v1::RegisterEndpointRequest& request) {
  return ValidateLoraAdapters(request.endpoint(), request.parameters());
}

// The error is INVALID_ARGUMENT and contains every one of `needles`.
void CheckError(const absl::Status& status, std::vector<std::string> needles) {
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  for (const std::string& needle : needles) {
    CHECK(std::string(status.message()).find(needle) != std::string::npos);
  }
}

TEST_CASE("A trainer's adapter pair on a 2-D base is accepted, in every mergeable dtype",
          "[lora_validation]") {
  CHECK(Validate(Trainer()).ok());
  for (v1::DType dtype : {v1::DTYPE_FLOAT32, v1::DTYPE_FLOAT16, v1::DTYPE_BFLOAT16}) {
    v1::RegisterEndpointRequest request = Trainer();
    for (v1::ParameterSpec& p : *request.mutable_parameters()) p.set_dtype(dtype);
    INFO(v1::DType_Name(dtype));
    CHECK(Validate(request).ok());
  }
  // r = 1; two bases with an adapter each.
  v1::RegisterEndpointRequest request = Trainer();
  *request.add_parameters() = Tensor("v", {3, 5});
  *request.add_parameters() = Adapter("v.B", v1::LORA_ROLE_B, "v", {3, 1}, -0.5);
  *request.add_parameters() = Adapter("v.A", v1::LORA_ROLE_A, "v", {1, 5}, -0.5);
  CHECK(Validate(request).ok());
}

TEST_CASE("Trainer adapters are refused, naming endpoint, tensor and field", "[lora_validation]") {
  const auto with = [](int index, auto change) {
    v1::RegisterEndpointRequest request = Trainer();
    change(*request.mutable_parameters(index));
    return Validate(request);
  };
  using P = v1::ParameterSpec;
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_base(""); }),
             {"endpoint t rank 0 tensor 'w.lora_A'", "lora.base is empty"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_base("missing"); }),
             {"tensor 'w.lora_A'", "lora.base 'missing' is not a parameter"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_base("w.lora_B"); }),
             {"tensor 'w.lora_A'", "lora.base 'w.lora_B' is itself a LoRA adapter"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_base("norm"); }),
             {"tensor 'w.lora_A'", "lora.base 'norm' has shape [8]", "2-D"});
  CheckError(with(0,
                  [](P& w) {
                    w.clear_shape();
                    for (int64_t d : {2, 4, 6}) w.add_shape(d);
                  }),
             {"tensor 'w.lora_A'", "lora.base 'w' has shape [2,4,6]"});
  CheckError(with(0, [](P& w) { w.set_dtype(v1::DTYPE_INT8); }),
             {"tensor 'w.lora_A'", "lora.base 'w' has dtype int8", "float32, float16 or bfloat16"});
  CheckError(with(2, [](P& b) { b.set_dtype(v1::DTYPE_FLOAT32); }),
             {"tensor 'w.lora_B'", "dtype is float32 but its lora.base 'w' is bfloat16"});
  CheckError(with(1, [](P& a) { a.set_shape(1, 5); }),
             {"tensor 'w.lora_A'", "shape is [4,5]", "A [r, 6] with r >= 1"});
  CheckError(with(1, [](P& a) { a.set_shape(0, 0); }),
             {"tensor 'w.lora_A'", "shape is [0,6]", "r >= 1"});
  CheckError(with(2, [](P& b) { b.set_shape(0, 7); }),
             {"tensor 'w.lora_B'", "shape is [7,4]", "B [8, r] with r >= 1"});
  CheckError(with(2,
                  [](P& b) {
                    b.clear_shape();
                    b.add_shape(32);
                  }),
             {"tensor 'w.lora_B'", "shape is [32]"});
  CheckError(with(2, [](P& b) { b.set_shape(1, 3); }),
             {"endpoint t rank 0 tensor 'w.lora_B'", "has r = 3", "'w.lora_A' [4,6] has r = 4"});
  CheckError(with(2, [](P& b) { b.mutable_lora()->set_scale(3.0); }),
             {"tensor 'w.lora_B'", "lora.scale is 3", "states 2", "the same scale"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_scale(0); }),
             {"tensor 'w.lora_A'", "lora.scale is 0", "finite and non-zero"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_scale(NAN); }),
             {"tensor 'w.lora_A'", "lora.scale is nan"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_scale(INFINITY); }),
             {"tensor 'w.lora_A'", "lora.scale is inf"});
  // Finite as a double but not as the float32 the merge computes in.
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_scale(1e39); }),
             {"tensor 'w.lora_A'", "lora.scale is 1e+39", "also as float32"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_scale(1e-50); }),
             {"tensor 'w.lora_A'", "lora.scale is 1e-50", "also as float32"});
  CheckError(with(1, [](P& a) { a.mutable_lora()->set_role(static_cast<v1::LoraRole>(9)); }),
             {"tensor 'w.lora_A'", "lora.role is 9", "LORA_ROLE_A (1), LORA_ROLE_B (2)"});
  // Exactly one A and one B per base.
  CheckError(with(2,
                  [](P& b) {
                    b.mutable_lora()->set_role(v1::LORA_ROLE_A);
                    b.set_shape(0, 4);
                    b.set_shape(1, 6);
                  }),
             {"tensor 'w.lora_B'", "lora.base 'w' already has LORA_ROLE_A adapter 'w.lora_A'"});
  v1::RegisterEndpointRequest lone = Trainer();
  lone.mutable_parameters()->DeleteSubrange(2, 1);
  CheckError(Validate(lone), {"endpoint t rank 0 tensor 'w.lora_A'",
                              "lora.base 'w' has a LORA_ROLE_A adapter but no LORA_ROLE_B"});
}

TEST_CASE("Inference adapters may leave their base empty; a base set is checked as a trainer's",
          "[lora_validation]") {
  v1::RegisterEndpointRequest request = Trainer();
  request.mutable_endpoint()->set_model("i");
  request.mutable_endpoint()->set_role(v1::ROLE_INFERENCE);
  CHECK(Validate(request).ok());
  // vLLM's LoRA slots: adapters of any shape, unattached.
  v1::RegisterEndpointRequest slots = request;
  for (v1::ParameterSpec& p : *slots.mutable_parameters()) p.mutable_lora()->clear_base();
  slots.mutable_parameters(1)->add_shape(1);
  slots.mutable_parameters(2)->set_dtype(v1::DTYPE_FLOAT32);
  CHECK(Validate(slots).ok());
  // A scale is still required.
  slots.mutable_parameters(1)->mutable_lora()->set_scale(0);
  CheckError(Validate(slots), {"endpoint i rank 0 tensor 'w.lora_A'", "lora.scale is 0"});
  request.mutable_parameters(1)->set_shape(1, 5);
  CheckError(Validate(request), {"endpoint i rank 0 tensor 'w.lora_A'", "A [r, 6]"});
}

using Registry = testing::OneAgentRegistry;

TEST_CASE("RegisterEndpoint checks adapters and keeps their LoRA specs", "[lora_validation]") {
  Registry registry;
  v1::RegisterEndpointRequest bad = Trainer(registry.agent_id);
  bad.mutable_parameters(2)->mutable_lora()->set_base("norm");
  CheckError(registry.endpoints.Register(bad), {"endpoint t rank 0 tensor 'w.lora_B'", "'norm'"});
  CHECK(registry.endpoints.Model("t").empty());
  const v1::RegisterEndpointRequest good = Trainer(registry.agent_id);
  REQUIRE(registry.endpoints.Register(good).ok());
  const std::vector<EndpointRecord> records = registry.endpoints.Model("t");
  REQUIRE(records.size() == 1);
  REQUIRE(records[0].parameters.size() == 4);
  CHECK(records[0].parameters[2].lora().SerializeAsString() ==
        good.parameters(2).lora().SerializeAsString());
}

TEST_CASE("Adapters are no layout's tensors: an endpoint with a layout registers them as they are",
          "[lora_validation]") {
  Registry registry;
  v1::RegisterEndpointRequest request = TrainerRank("policy", registry.agent_id);
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->mutable_layout()->set_preset("hf");
  *e->mutable_layout()->mutable_model() = *layouts::NamedModelConfig("qwen2-tiny");
  absl::StatusOr<std::vector<v1::ParameterSpec>> tensors = layouts::ExpandLayout(*e);
  REQUIRE(tensors.ok());
  std::optional<v1::ParameterSpec> base;
  for (v1::ParameterSpec tensor : *tensors) {
    tensor.clear_logical();
    *request.add_parameters() = tensor;
    if (!base.has_value() && tensor.shape_size() == 2) base = tensor;
  }
  REQUIRE(base.has_value());
  *request.add_parameters() =
      Adapter("lora_A", v1::LORA_ROLE_A, base->name(), {2, base->shape(1)}, 0.5, base->dtype());
  *request.add_parameters() =
      Adapter("lora_B", v1::LORA_ROLE_B, base->name(), {base->shape(0), 2}, 0.5, base->dtype());
  absl::Status registered = registry.endpoints.Register(request);
  INFO(registered.ToString());
  REQUIRE(registered.ok());
  const std::vector<EndpointRecord> records = registry.endpoints.Model("policy");
  REQUIRE(records.size() == 1);
  const v1::ParameterSpec& b = records[0].parameters.back();
  CHECK(b.name() == "lora_B");
  CHECK(b.logical().empty());  // Its default piece: logical parameter "lora_B".
  CHECK(records[0].parameters.front().logical_size() > 0);  // Layout tensors got theirs.
}

}  // namespace
}  // namespace paramsync::coordinator
