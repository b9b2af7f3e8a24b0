// How a framework endpoint's tensors are laid out for registration: offsets
// aligned, sizes from dtype and shape, and every spec field (LoRA adapters,
// logical pieces) kept for the agent.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "client/endpoint.h"

namespace paramsync::client {
namespace {

v1::LoraSpec Adapter(v1::LoraRole role, const std::string& base, double scale) {
  v1::LoraSpec lora;
  lora.set_role(role);
  lora.set_base(base);
  lora.set_scale(scale);
  return lora;
}

TEST_CASE("LayOut aligns tensors and keeps their LoRA specs", "[endpoint]") {
  uint64_t size = 0;
  absl::StatusOr<v1::LocalRegisterEndpointRequest> request =
      LayOut(v1::EndpointSpec(),
             {{"w", v1::DTYPE_BFLOAT16, {8, 6}, 0, std::nullopt, std::nullopt},
              {"w.lora_A",
               v1::DTYPE_BFLOAT16,
               {2, 6},
               std::nullopt,
               std::nullopt,
               Adapter(v1::LORA_ROLE_A, "w", 0.5)},
              {"w.lora_B",
               v1::DTYPE_BFLOAT16,
               {8, 2},
               0,
               std::nullopt,
               Adapter(v1::LORA_ROLE_B, "w", 0.5)}},
             64, &size);
  REQUIRE(request.ok());
  REQUIRE(request->tensors_size() == 3);
  CHECK(request->tensors(0).offset() == 0);
  CHECK(request->tensors(0).nbytes() == 96);
  CHECK(request->tensors(1).offset() == 128);
  CHECK(request->tensors(2).offset() == 192);
  CHECK(size == 192 + 32);
  CHECK_FALSE(request->tensors(0).spec().has_lora());
  const v1::LoraSpec& b = request->tensors(2).spec().lora();
  CHECK(b.role() == v1::LORA_ROLE_B);
  CHECK(b.base() == "w");
  CHECK(b.scale() == 0.5);
  CHECK(request->tensors(2).spec().tp_split_dim() == 0);
}

TEST_CASE("PlaceTensors lays out a request's specs without dropping fields", "[endpoint]") {
  v1::LocalRegisterEndpointRequest request;
  v1::ParameterSpec* adapter = request.add_tensors()->mutable_spec();
  adapter->set_name("proj.lora_A");
  adapter->set_dtype(v1::DTYPE_FLOAT32);
  adapter->add_shape(4);
  adapter->add_shape(3);
  adapter->set_tp_split_dim(1);
  *adapter->mutable_lora() = Adapter(v1::LORA_ROLE_A, "proj", 2.0);
  v1::ParameterSpec* norm = request.add_tensors()->mutable_spec();
  norm->set_name("norm");
  norm->set_dtype(v1::DTYPE_FLOAT16);
  norm->add_shape(5);
  norm->add_logical()->set_logical_name("model.norm.weight");
  const v1::LocalRegisterEndpointRequest original = request;

  absl::StatusOr<uint64_t> size = PlaceTensors(64, &request);
  REQUIRE(size.ok());
  CHECK(*size == 64 + 10);
  CHECK(request.tensors(0).nbytes() == 48);
  CHECK(request.tensors(1).offset() == 64);
  for (int i = 0; i < request.tensors_size(); ++i) {
    CHECK(request.tensors(i).spec().SerializeAsString() ==
          original.tensors(i).spec().SerializeAsString());
  }

  norm = request.mutable_tensors(1)->mutable_spec();
  norm->set_shape(0, -1);
  absl::StatusOr<uint64_t> refused = PlaceTensors(64, &request);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(refused.status().message()).find("tensor 'norm'") != std::string::npos);
}

}  // namespace
}  // namespace paramsync::client
