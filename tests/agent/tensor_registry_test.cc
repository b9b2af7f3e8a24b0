#include "agent/tensors/tensor_registry.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

namespace paramsync::agent {
namespace {

v1::LocalRegisterEndpointRequest Request(const std::string& shm, uint64_t offset, uint64_t nbytes,
                                         std::vector<int64_t> shape) {
  v1::LocalRegisterEndpointRequest request;
  request.mutable_endpoint()->set_model("m");
  request.mutable_endpoint()->set_rank(0);
  v1::LocalTensor* tensor = request.add_tensors();
  tensor->mutable_spec()->set_name("w");
  tensor->mutable_spec()->set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t d : shape) tensor->mutable_spec()->add_shape(d);
  tensor->set_shm_name(shm);
  tensor->set_offset(offset);
  tensor->set_nbytes(nbytes);
  return request;
}

TEST_CASE("Registered tensors are views of the framework's shared memory", "[tensor_registry]") {
  const std::string name = "/paramsync-registry-" + std::to_string(getpid());
  absl::StatusOr<SharedMemoryRegion> region = SharedMemoryRegion::Create(name, 256);
  REQUIRE(region.ok());
  TensorRegistry registry;
  REQUIRE(registry.RegisterEndpoint(Request(name, 64, 32, {2, 4})).ok());
  absl::StatusOr<TensorView> view = registry.Find({"m", 0}, "w");
  REQUIRE(view.ok());
  CHECK(view->nbytes == 32);
  std::memcpy(view->data, "agent wrote", 12);
  CHECK(std::strcmp(static_cast<const char*>(region->data()) + 64, "agent wrote") == 0);
  CHECK(*registry.GetVersion({"m", 0}) == 0);
  registry.SetVersion({"m", 0}, 3);
  CHECK(*registry.GetVersion({"m", 0}) == 3);
  CHECK(registry.Find({"m", 0}, "nope").status().code() == absl::StatusCode::kNotFound);
  CHECK(registry.Find({"m", 1}, "w").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Malformed registrations are refused with the tensor named", "[tensor_registry]") {
  const std::string name = "/paramsync-registry-bad-" + std::to_string(getpid());
  absl::StatusOr<SharedMemoryRegion> region = SharedMemoryRegion::Create(name, 128);
  REQUIRE(region.ok());
  TensorRegistry registry;
  // Bytes disagree with dtype x shape.
  absl::Status status = registry.RegisterEndpoint(Request(name, 0, 16, {2, 4}));
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find("'w'") != std::string::npos);
  // Outside the region.
  CHECK(registry.RegisterEndpoint(Request(name, 120, 32, {2, 4})).code() ==
        absl::StatusCode::kInvalidArgument);
  // No such region.
  CHECK(registry.RegisterEndpoint(Request(name + "-missing", 0, 32, {2, 4})).code() ==
        absl::StatusCode::kNotFound);
  // Negative dimension.
  CHECK(registry.RegisterEndpoint(Request(name, 0, 32, {-2, 4})).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.Registrations().empty());
}

TEST_CASE("An endpoint's tensors come in registration order with their registration",
          "[tensor_registry]") {
  const std::string name = "/paramsync-registry-all-" + std::to_string(getpid());
  absl::StatusOr<SharedMemoryRegion> region = SharedMemoryRegion::Create(name, 256);
  REQUIRE(region.ok());
  TensorRegistry registry;
  v1::LocalRegisterEndpointRequest request = Request(name, 64, 32, {2, 4});
  v1::LocalTensor* second = request.add_tensors();
  *second = request.tensors(0);
  second->mutable_spec()->set_name("b");
  second->set_offset(0);
  REQUIRE(registry.RegisterEndpoint(request).ok());
  absl::StatusOr<EndpointTensors> tensors = registry.Tensors({"m", 0});
  REQUIRE(tensors.ok());
  CHECK(tensors->registration == *registry.Registration({"m", 0}));
  REQUIRE(tensors->tensors.size() == 2);
  CHECK(tensors->tensors[0].spec->name() == "w");
  CHECK(tensors->tensors[1].spec->name() == "b");
  CHECK(tensors->tensors[1].data + 64 == tensors->tensors[0].data);
  REQUIRE(registry.RegisterEndpoint(request).ok());
  CHECK(registry.Tensors({"m", 0})->registration != tensors->registration);
  CHECK(registry.Tensors({"m", 1}).status().code() == absl::StatusCode::kNotFound);
  registry.MarkGone({"m", 0}, *registry.Registration({"m", 0}));
  CHECK(registry.Tensors({"m", 0}).status().code() == absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace paramsync::agent
