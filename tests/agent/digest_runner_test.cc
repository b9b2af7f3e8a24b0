// DigestRunner on a CPU agent's real parts (shared memory, tensor registry,
// host memory), and the test hook that damages received bytes.
#include "agent/tasks/digest_runner.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "agent/tasks/received_bytes_corrupter.h"
#include "common/tensor_digest.h"

namespace paramsync::agent {
namespace {

using Shape = std::vector<int64_t>;

google::protobuf::RepeatedField<int64_t> Ints(const Shape& values) {
  return {values.begin(), values.end()};
}

// One float32 [4, 8] tensor "w" of `model` rank 0, at byte 4 of `shm`.
v1::LocalRegisterEndpointRequest Registration(const std::string& shm, const std::string& model,
                                              v1::Role role) {
  v1::LocalRegisterEndpointRequest request;
  request.mutable_endpoint()->set_model(model);
  request.mutable_endpoint()->set_role(role);
  v1::LocalTensor* tensor = request.add_tensors();
  tensor->mutable_spec()->set_name("w");
  tensor->mutable_spec()->set_dtype(v1::DTYPE_FLOAT32);
  *tensor->mutable_spec()->mutable_shape() = Ints({4, 8});
  tensor->set_shm_name(shm);
  tensor->set_offset(4);
  tensor->set_nbytes(4 * 8 * 4);
  return request;
}

// Rows [first, last) of a [8, 8] parameter from "w" of `model`, which holds
// its rows 4-7.
v1::DigestItem Item(const std::string& model, std::pair<int64_t, int64_t> rows = {4, 8}) {
  v1::DigestItem item;
  item.mutable_endpoint()->set_model(model);
  item.set_name("w");
  *item.mutable_region()->mutable_start() = Ints({rows.first - 4, 0});
  *item.mutable_region()->mutable_extent() = Ints({rows.second - rows.first, 8});
  *item.mutable_global_shape() = Ints({8, 8});
  *item.mutable_global_start() = Ints({rows.first, 0});
  return item;
}

struct Fixture {
  Fixture() {
    absl::StatusOr<SharedMemoryRegion> created = SharedMemoryRegion::Create(name, 512);
    REQUIRE(created.ok());
    region = std::make_unique<SharedMemoryRegion>(*std::move(created));
    std::mt19937 rng(5);
    for (size_t i = 0; i < 512; ++i) static_cast<uint8_t*>(region->data())[i] = rng();
    REQUIRE(registry.RegisterEndpoint(Registration(name, "vllm", v1::ROLE_INFERENCE)).ok());
  }

  // What the host reference computes for rows [first, last) of the parameter.
  uint64_t Expected(int64_t first, int64_t last) const {
    const Shape shape = {4, 8}, start = {first - 4, 0}, extent = {last - first, 8};
    const Shape global = {8, 8}, global_start = {first, 0};
    absl::StatusOr<uint64_t> digest =
        DigestOnHost({shape, start, extent, global, global_start, 4},
                     static_cast<const char*>(region->data()) + 4, 128);
    REQUIRE(digest.ok());
    return *digest;
  }

  // `items` (none: only the plan's id) of plan `plan_id`.
  absl::StatusOr<v1::DigestResponse> Run(const std::vector<v1::DigestItem>& items,
                                         uint64_t plan_id = 0) {
    v1::DigestRequest request;
    request.set_sync_id(1);
    request.set_plan_id(plan_id);
    for (const v1::DigestItem& item : items) *request.add_items() = item;
    return runner.Run(request);
  }

  const std::string name = "/paramsync-digest-" + std::to_string(getpid());
  std::unique_ptr<SharedMemoryRegion> region;
  TensorRegistry registry;
  HostMemoryOps memory;
  DigestRunner runner{&registry, &memory};
};

TEST_CASE("Digests of registered tensors, whole and in regions, in the parameter's coordinates",
          "[digest_runner]") {
  Fixture f;
  absl::StatusOr<v1::DigestResponse> response =
      f.Run({Item("vllm"), Item("vllm", {4, 6}), Item("vllm", {6, 8}), Item("vllm", {5, 7})});
  INFO(response.status().ToString());
  REQUIRE(response.ok());
  REQUIRE(response->digests_size() == 4);
  CHECK(response->digests(0) == f.Expected(4, 8));
  CHECK(response->digests(1) + response->digests(2) == response->digests(0));
  CHECK(response->digests(3) == f.Expected(5, 7));
}

TEST_CASE("Items of a plan are kept: later requests name the plan, until endpoints change",
          "[digest_runner]") {
  Fixture f;
  CHECK(f.Run({}, 7).status().code() == absl::StatusCode::kNotFound);  // Not sent yet.
  absl::StatusOr<v1::DigestResponse> sent = f.Run({Item("vllm"), Item("vllm", {5, 7})}, 7);
  REQUIRE(sent.ok());
  absl::StatusOr<v1::DigestResponse> named = f.Run({}, 7);
  INFO(named.status().ToString());
  REQUIRE(named.ok());
  CHECK(named->digests_size() == 2);
  CHECK(named->digests(1) == f.Expected(5, 7));
  // New bytes, the same regions.
  static_cast<char*>(f.region->data())[4 + 4 * 8 * 2] ^= 1;  // Row 2 of the tensor: index 6.
  absl::StatusOr<v1::DigestResponse> changed = f.Run({}, 7);
  REQUIRE(changed.ok());
  CHECK(changed->digests(1) == f.Expected(5, 7));
  CHECK(changed->digests(1) != sent->digests(1));
  // Another endpoint registers: the kept regions may point to stale memory.
  const std::string other = f.name + "-other";
  absl::StatusOr<SharedMemoryRegion> other_region = SharedMemoryRegion::Create(other, 512);
  REQUIRE(other_region.ok());
  REQUIRE(f.registry.RegisterEndpoint(Registration(other, "trainer", v1::ROLE_TRAINER)).ok());
  absl::Status dropped = f.Run({}, 7).status();
  CHECK(dropped.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(dropped.message()).find("send them again") != std::string::npos);
}

TEST_CASE("Digest items that do not fit their tensor are refused, naming the item",
          "[digest_runner]") {
  Fixture f;
  auto refused = [&](const v1::DigestItem& item, absl::StatusCode code, const std::string& needle) {
    absl::Status status = f.Run({Item("vllm"), item}).status();
    INFO(status.ToString());
    CHECK(status.code() == code);
    CHECK(std::string(status.message()).find("digest item 1 (vllm rank 0, tensor 'w')") !=
          std::string::npos);
    CHECK(std::string(status.message()).find(needle) != std::string::npos);
  };
  v1::DigestItem too_long = Item("vllm", {6, 8});
  *too_long.mutable_region()->mutable_extent() = Ints({4, 8});
  refused(too_long, absl::StatusCode::kInvalidArgument, "[2, +4) lies outside size 4");
  refused(Item("vllm", {2, 6}), absl::StatusCode::kInvalidArgument, "[-2, +4) lies outside");
  v1::DigestItem outside = Item("vllm");
  *outside.mutable_global_shape() = Ints({6, 8});
  refused(outside, absl::StatusCode::kInvalidArgument, "outside size 6");
  v1::DigestItem unknown = Item("vllm");
  unknown.set_name("nope");
  absl::Status status = f.Run({unknown}).status();
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(status.message()).find("tensor 'nope'") != std::string::npos);
}

TEST_CASE("A piece of a tensor digests at its place in its own logical parameter",
          "[digest_runner]") {
  Fixture f;
  // Rows 1-2 of "w" are all of a [2, 8] logical parameter (say, a fused
  // tensor's "k"): their digest is that parameter's, not w's rows 5-6.
  v1::DigestItem piece = Item("vllm", {5, 7});
  *piece.mutable_global_shape() = Ints({2, 8});
  *piece.mutable_global_start() = Ints({0, 0});
  absl::StatusOr<v1::DigestResponse> response = f.Run({piece, Item("vllm", {5, 7})});
  INFO(response.status().ToString());
  REQUIRE(response.ok());
  const Shape shape = {4, 8}, start = {1, 0}, extent = {2, 8}, zero = {0, 0};
  absl::StatusOr<uint64_t> expected = DigestOnHost(
      {shape, start, extent, extent, zero, 4}, static_cast<const char*>(f.region->data()) + 4, 128);
  REQUIRE(expected.ok());
  CHECK(response->digests(0) == *expected);
  CHECK(response->digests(1) == f.Expected(5, 7));
  CHECK(response->digests(0) != response->digests(1));
}

TEST_CASE("The test hook damages the named tensor of inference endpoints only", "[digest_runner]") {
  Fixture f;
  const std::string trainer_shm = f.name + "-trainer";
  absl::StatusOr<SharedMemoryRegion> trainer_region = SharedMemoryRegion::Create(trainer_shm, 512);
  REQUIRE(trainer_region.ok());
  REQUIRE(f.registry.RegisterEndpoint(Registration(trainer_shm, "trainer", v1::ROLE_TRAINER)).ok());
  absl::StatusOr<v1::DigestResponse> before = f.Run({Item("vllm"), Item("trainer")});
  REQUIRE(before.ok());
  std::vector<uint8_t> trainer_bytes(static_cast<uint8_t*>(trainer_region->data()),
                                     static_cast<uint8_t*>(trainer_region->data()) + 512);

  REQUIRE(ReceivedBytesCorrupter(&f.registry, &f.memory, "w").Corrupt().ok());
  absl::StatusOr<v1::DigestResponse> after = f.Run({Item("vllm"), Item("trainer")});
  REQUIRE(after.ok());
  CHECK(after->digests(0) != before->digests(0));
  CHECK(after->digests(1) == before->digests(1));
  CHECK(std::memcmp(trainer_region->data(), trainer_bytes.data(), 512) == 0);
  // Only the first 8 bytes of the tensor changed.
  CHECK(after->digests(0) - f.Expected(5, 8) == f.Expected(4, 5));
}

}  // namespace
}  // namespace paramsync::agent
