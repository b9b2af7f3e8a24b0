// End-to-end direct syncs between framework layouts on CPU, every rank its own
// process: trainer ranks register Megatron-Core GPT tensors and inference
// ranks vLLM tensors of the same model (tensor_holder --layout_preset), with
// other names, fused layouts and parallelism; the coordinator derives their
// logical pieces from the presets at registration. Every sync is validated by
// digests and every inference rank checks every byte it holds (padding rows
// stay zero).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "common/layouts/expand_layout.h"
#include "common/layouts/model_config.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

std::vector<int> AgentRange(int first, int count) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

// Bytes the logical pieces of every rank of a vLLM replica of `model_config`
// at TP `tp` cover: what a sync writes (replicated KV heads on each rank that
// holds them; padding not at all).
int64_t VllmDestinationBytes(const std::string& model_config, int tp) {
  int64_t bytes = 0;
  for (int rank = 0; rank < tp; ++rank) {
    v1::EndpointSpec spec;
    v1::ParallelConfig* p = spec.mutable_parallel();
    p->set_tp_size(tp);
    p->set_tp_rank(rank);
    p->set_pp_size(1);
    p->set_ep_size(1);
    spec.mutable_layout()->set_preset("vllm");
    *spec.mutable_layout()->mutable_model() = *layouts::NamedModelConfig(model_config);
    absl::StatusOr<std::vector<v1::ParameterSpec>> tensors = layouts::ExpandLayout(spec);
    REQUIRE(tensors.ok());
    for (const v1::ParameterSpec& tensor : *tensors) {
      for (const v1::LogicalPiece& piece : tensor.logical()) {
        int64_t elements = 2;  // bfloat16
        for (int64_t d : piece.local_box().extent()) elements *= d;
        bytes += elements;
      }
    }
  }
  return bytes;
}

// `trainer` (Megatron-Core GPT) on agents 0.., a vLLM replica of TP `dst_tp`
// after them; syncs versions 1 and 2 with the direct strategy.
void RunLayoutSync(const std::string& model_config, ModelDeployment trainer, int dst_tp) {
  const int src_ranks = static_cast<int>(trainer.agents.size());
  auto cluster = StartCluster(src_ranks + dst_tp, absl::StrCat("layout-", model_config));
  trainer.layout_preset = "megatron-core-gpt";
  trainer.model_config = model_config;
  ModelDeployment inference{"vllm", false, dst_tp, 1, 1, AgentRange(src_ranks, dst_tp)};
  inference.layout_preset = "vllm";
  inference.model_config = model_config;
  auto trainer_ranks = DeployOrDie(*cluster, trainer);
  auto inference_ranks = DeployOrDie(*cluster, inference);
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("layouts", trainer.model, "vllm");
  spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  CreateGroup(coordinator, spec);
  const int64_t bytes = VllmDestinationBytes(model_config, dst_tp);
  for (int64_t version : {1, 2}) {
    v1::SyncResponse report =
        SyncAndVerify(coordinator, "layouts", trainer_ranks, inference_ranks, version, bytes);
    CHECK(report.wire_bytes() == bytes);
  }
}

TEST_CASE("Megatron-Core TP2 -> vLLM TP4: interleaved QKV to [q|k|v] with KV heads replicated",
          "[integration][layouts]") {
  // qwen2-tiny: 4 query heads in 2 groups (each KV head on 2 vLLM ranks),
  // QKV biases, fused gate/up, vocabulary 250 padded to 256 (both sides).
  RunLayoutSync("qwen2-tiny", ModelDeployment{"megatron", true, 2, 1, 1, AgentRange(0, 2)}, 4);
}

TEST_CASE("Megatron-Core MoE PP2 x EP2 -> vLLM TP2: stages renumbered, experts restacked",
          "[integration][layouts]") {
  // qwen2-moe-tiny: 2 layers, one per stage (each numbered 0 by Megatron);
  // 8 routed experts, 4 per EP rank, into vLLM's fused w13/w2 split by TP.
  ModelDeployment trainer{"megatron", true, 1, 2, 1, AgentRange(0, 4)};
  trainer.ep = 2;
  trainer.pp = 2;
  RunLayoutSync("qwen2-moe-tiny", trainer, 2);
}

}  // namespace
}  // namespace paramsync::bench
