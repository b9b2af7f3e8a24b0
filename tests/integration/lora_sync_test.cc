// LoRA syncs end to end on CPU: a coordinator and CPU agents as processes, the
// framework ranks as endpoints of this process (client::HostEndpoint). A MERGE
// sync delivers W + scale * B @ A to the inference ranks, bit for bit as the
// reference below computes it (the merge's contract: a float32 fma chain in
// order of r, rounded once), validated against the merged sources, and leaves
// the trainer's tensors as they were; an ADAPTERS_ONLY sync delivers the
// adapters alone.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "client/host_endpoint.h"
#include "common/float_formats.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

// A row-major matrix of values that bfloat16 holds exactly.
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;

  float at(int64_t i, int64_t j) const { return values[i * cols + j]; }
};

Matrix Pattern(int64_t rows, int64_t cols, int seed) {
  Matrix m{rows, cols, {}};
  for (int64_t i = 0; i < rows * cols; ++i) {
    m.values.push_back(static_cast<float>((i * 7 + seed * 5) % 23 - 11) / 8.0f);
  }
  return m;
}

// Columns [first, first + count) of `m`, or its rows when `rows`.
Matrix Slice(const Matrix& m, bool rows, int64_t first, int64_t count) {
  Matrix out{rows ? count : m.rows, rows ? m.cols : count, {}};
  for (int64_t i = 0; i < out.rows; ++i) {
    for (int64_t j = 0; j < out.cols; ++j) {
      out.values.push_back(rows ? m.at(first + i, j) : m.at(i, first + j));
    }
  }
  return out;
}

std::vector<uint8_t> Encode(v1::DType dtype, const Matrix& m) {
  std::vector<uint8_t> bytes;
  for (float v : m.values) {
    if (dtype == v1::DTYPE_BFLOAT16) {
      const uint16_t bits = FloatToBfloat16(v);
      bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(&bits),
                   reinterpret_cast<const uint8_t*>(&bits) + 2);
    } else {
      bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(&v),
                   reinterpret_cast<const uint8_t*>(&v) + 4);
    }
  }
  return bytes;
}

// The merge's contract, element by element: acc starts at W; each step one fma
// of (scale * B[i][k], rounded) and A[k][j], in order of k; then one rounding
// to the dtype.
std::vector<uint8_t> MergedReference(v1::DType dtype, const Matrix& w, const Matrix& a,
                                     const Matrix& b, double scale) {
  const float s = static_cast<float>(scale);
  Matrix merged{w.rows, w.cols, {}};
  for (int64_t i = 0; i < w.rows; ++i) {
    for (int64_t j = 0; j < w.cols; ++j) {
      float acc = w.at(i, j);
      for (int64_t k = 0; k < a.rows; ++k) {
        acc = std::fmaf(s * b.at(i, k), a.at(k, j), acc);
      }
      merged.values.push_back(acc);
    }
  }
  return Encode(dtype, merged);
}

std::vector<uint8_t> Read(const client::HostEndpoint& endpoint, const std::string& name) {
  std::vector<uint8_t> bytes(endpoint.Bytes(name));
  REQUIRE(endpoint.Read(name, bytes.data(), bytes.size()).ok());
  return bytes;
}

void Write(client::HostEndpoint& endpoint, const std::string& name,
           const std::vector<uint8_t>& bytes) {
  const absl::Status written = endpoint.Write(name, bytes.data(), bytes.size());
  INFO(written.ToString());
  REQUIRE(written.ok());
}

v1::EndpointSpec Spec(const std::string& model, bool trainer, int tp, int rank) {
  v1::EndpointSpec spec;
  spec.set_model(model);
  spec.set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
  spec.set_rank(rank);
  spec.set_local_rank(rank);
  v1::ParallelConfig* p = spec.mutable_parallel();
  p->set_tp_size(tp);
  p->set_tp_rank(rank);
  p->set_pp_size(1);
  p->set_ep_size(1);
  p->set_dp_size(1);
  return spec;
}

v1::LoraSpec Lora(v1::LoraRole role, const std::string& base, double scale) {
  v1::LoraSpec lora;
  lora.set_role(role);
  lora.set_base(base);
  lora.set_scale(scale);
  return lora;
}

std::unique_ptr<client::HostEndpoint> RegisterOrDie(
    const std::string& agent, const v1::EndpointSpec& spec,
    const std::vector<client::TensorDecl>& tensors) {
  absl::StatusOr<std::unique_ptr<client::HostEndpoint>> endpoint =
      client::HostEndpoint::Register(agent, spec, tensors);
  INFO(endpoint.status().ToString());
  REQUIRE(endpoint.ok());
  return *std::move(endpoint);
}

v1::SyncResponse SyncOrDie(client::CoordinatorClient& coordinator, const std::string& group) {
  absl::StatusOr<v1::SyncResponse> synced = coordinator.Sync(group);
  INFO(synced.status().ToString());
  REQUIRE(synced.ok());
  return *synced;
}

constexpr double kScale = 0.37;  // Not a power of two: every product rounds.

TEST_CASE("A MERGE sync delivers the merged weights and leaves the trainer's as they were",
          "[integration][lora]") {
  auto cluster = StartCluster(2, "lora-merge");
  const v1::DType f32 = v1::DTYPE_FLOAT32;
  auto trainer = RegisterOrDie(
      cluster->agent_address(0), Spec("policy", true, 1, 0),
      {{"w", f32, {6, 5}, std::nullopt, std::nullopt, std::nullopt},
       {"w.lora_A", f32, {3, 5}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_A, "w", kScale)},
       {"w.lora_B", f32, {6, 3}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_B, "w", kScale)},
       {"norm", f32, {5}, std::nullopt, std::nullopt, std::nullopt}});
  auto inference = RegisterOrDie(cluster->agent_address(1), Spec("vllm", false, 1, 0),
                                 {{"w", f32, {6, 5}, std::nullopt, std::nullopt, std::nullopt},
                                  {"norm", f32, {5}, std::nullopt, std::nullopt, std::nullopt}});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("g", "policy", "vllm");
  spec.set_lora_mode(v1::LORA_MODE_MERGE);
  spec.set_validate(true);  // The digests compare against the merged sources.
  CreateGroup(coordinator, spec);

  for (int version = 1; version <= 2; ++version) {
    INFO("version " << version);
    // The second sync changes the adapter: nothing of the first merge stays.
    const Matrix w = Pattern(6, 5, 1);
    const Matrix a = Pattern(3, 5, 2 + version);
    const Matrix b = Pattern(6, 3, 3);
    const Matrix norm = Pattern(1, 5, 4);
    Write(*trainer, "w", Encode(f32, w));
    Write(*trainer, "w.lora_A", Encode(f32, a));
    Write(*trainer, "w.lora_B", Encode(f32, b));
    Write(*trainer, "norm", Encode(f32, norm));
    const v1::SyncResponse synced = SyncOrDie(coordinator, "g");
    CHECK(synced.version() == version);
    CHECK(synced.validated());
    CHECK(synced.lora_base_weights() == 1);
    CHECK(synced.lora_merge_ms() > 0);
    CHECK(synced.lora_restore_ms() > 0);
    CHECK(synced.bytes() == (30 + 5) * 4);  // The adapters did not travel.
    CHECK(Read(*inference, "w") == MergedReference(f32, w, a, b, kScale));
    CHECK(Read(*inference, "norm") == Encode(f32, norm));
    // The trainer's tensors are restored bit for bit.
    CHECK(Read(*trainer, "w") == Encode(f32, w));
    CHECK(Read(*trainer, "w.lora_A") == Encode(f32, a));
    CHECK(Read(*trainer, "w.lora_B") == Encode(f32, b));
  }
}

TEST_CASE("Each TP rank merges its own shards: column and row parallel bases, direct strategy",
          "[integration][lora]") {
  auto cluster = StartCluster(3, "lora-tp");
  const v1::DType bf16 = v1::DTYPE_BFLOAT16;
  // Full weights: column-parallel qkv [8, 6] (B split with it), row-parallel
  // proj [4, 8] (A split with it); rank 2.
  const Matrix qkv = Pattern(8, 6, 1), qkv_a = Pattern(2, 6, 2), qkv_b = Pattern(8, 2, 3);
  const Matrix proj = Pattern(4, 8, 4), proj_a = Pattern(2, 8, 5), proj_b = Pattern(4, 2, 6);
  std::vector<std::unique_ptr<client::HostEndpoint>> trainer;
  for (int t = 0; t < 2; ++t) {
    trainer.push_back(RegisterOrDie(
        cluster->agent_address(t), Spec("policy", true, 2, t),
        {{"qkv", bf16, {4, 6}, 0, std::nullopt, std::nullopt},
         {"qkv.A", bf16, {2, 6}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_A, "qkv", kScale)},
         {"qkv.B", bf16, {4, 2}, 0, std::nullopt, Lora(v1::LORA_ROLE_B, "qkv", kScale)},
         {"proj", bf16, {4, 4}, 1, std::nullopt, std::nullopt},
         {"proj.A", bf16, {2, 4}, 1, std::nullopt, Lora(v1::LORA_ROLE_A, "proj", kScale)},
         {"proj.B",
          bf16,
          {4, 2},
          std::nullopt,
          std::nullopt,
          Lora(v1::LORA_ROLE_B, "proj", kScale)}}));
    Write(*trainer[t], "qkv", Encode(bf16, Slice(qkv, true, 4 * t, 4)));
    Write(*trainer[t], "qkv.A", Encode(bf16, qkv_a));
    Write(*trainer[t], "qkv.B", Encode(bf16, Slice(qkv_b, true, 4 * t, 4)));
    Write(*trainer[t], "proj", Encode(bf16, Slice(proj, false, 4 * t, 4)));
    Write(*trainer[t], "proj.A", Encode(bf16, Slice(proj_a, false, 4 * t, 4)));
    Write(*trainer[t], "proj.B", Encode(bf16, proj_b));
  }
  auto inference = RegisterOrDie(cluster->agent_address(2), Spec("vllm", false, 1, 0),
                                 {{"qkv", bf16, {8, 6}, 0, std::nullopt, std::nullopt},
                                  {"proj", bf16, {4, 8}, 1, std::nullopt, std::nullopt}});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("g", "policy", "vllm");
  spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);  // lora_mode unset: MERGE.
  spec.set_validate(true);
  CreateGroup(coordinator, spec);
  const v1::SyncResponse synced = SyncOrDie(coordinator, "g");
  CHECK(synced.lora_base_weights() == 4);  // Two bases on each of two ranks.
  // Each rank merged its shard with its own B and A shards: element by
  // element the merge of the full weights.
  CHECK(Read(*inference, "qkv") == MergedReference(bf16, qkv, qkv_a, qkv_b, kScale));
  CHECK(Read(*inference, "proj") == MergedReference(bf16, proj, proj_a, proj_b, kScale));
  for (int t = 0; t < 2; ++t) {
    CHECK(Read(*trainer[t], "qkv") == Encode(bf16, Slice(qkv, true, 4 * t, 4)));
    CHECK(Read(*trainer[t], "proj") == Encode(bf16, Slice(proj, false, 4 * t, 4)));
  }
}

TEST_CASE("An ADAPTERS_ONLY sync delivers the adapters into the inference slots alone",
          "[integration][lora]") {
  auto cluster = StartCluster(2, "lora-adapters");
  const v1::DType bf16 = v1::DTYPE_BFLOAT16;
  auto trainer = RegisterOrDie(
      cluster->agent_address(0), Spec("policy", true, 1, 0),
      {{"w", bf16, {6, 5}, std::nullopt, std::nullopt, std::nullopt},
       {"w.lora_A", bf16, {3, 5}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_A, "w", kScale)},
       {"w.lora_B", bf16, {6, 3}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_B, "w", kScale)}});
  // vLLM's LoRA slots name no base.
  auto inference = RegisterOrDie(
      cluster->agent_address(1), Spec("vllm", false, 1, 0),
      {{"w", bf16, {6, 5}, std::nullopt, std::nullopt, std::nullopt},
       {"w.lora_A", bf16, {3, 5}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_A, "", kScale)},
       {"w.lora_B", bf16, {6, 3}, std::nullopt, std::nullopt, Lora(v1::LORA_ROLE_B, "", kScale)}});
  const Matrix w = Pattern(6, 5, 1), a = Pattern(3, 5, 2), b = Pattern(6, 3, 3);
  Write(*trainer, "w", Encode(bf16, w));
  Write(*trainer, "w.lora_A", Encode(bf16, a));
  Write(*trainer, "w.lora_B", Encode(bf16, b));
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("g", "policy", "vllm");
  spec.set_lora_mode(v1::LORA_MODE_ADAPTERS_ONLY);
  spec.set_validate(true);
  CreateGroup(coordinator, spec);
  const v1::SyncResponse synced = SyncOrDie(coordinator, "g");
  CHECK(synced.bytes() == (15 + 18) * 2);
  CHECK(synced.lora_base_weights() == 0);
  CHECK(Read(*inference, "w.lora_A") == Encode(bf16, a));
  CHECK(Read(*inference, "w.lora_B") == Encode(bf16, b));
  CHECK(Read(*inference, "w") == std::vector<uint8_t>(60, 0));  // Zero-filled, untouched.
  CHECK(Read(*trainer, "w") == Encode(bf16, w));
}

}  // namespace
}  // namespace paramsync::bench
