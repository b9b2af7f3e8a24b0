// File: bench/plan_bench.cc
// -----------------------------------------------------------------------------
// Planner scale benchmark: builds Megatron TP8 PP4 trainers of 1k, 4k and 16k
// GPUs (dp 32, 128, 512) feeding vLLM inference replicas of TP8 (single stage)
// or TP16 (two-stage, tp_num_mapping 2) with as many inference ranks as trainer
// ranks, colocated (inference on the trainer's GPUs, 8 per node, reversed
// within a node as ChatLearn places them) or disaggregated (inference on nodes
// of its own), dense or HEP (trainer ep 8, MoE). For each it prints the median
// plan time over a few runs, the heap bytes of planning (counted by the global
// operator new/delete below: the peak above the bytes live before the call, and
// the bytes the finished SyncPlan keeps), the pair count, and at the end the
// growth time(16k) / time(1k) per variant against the 16x size ratio.
//
// BuildSyncPlan + VerifySyncPlan is timed too (the check a plan passes before
// any byte moves); a plan the verifier refuses is flagged under the table.
//
// Usage: plan_bench [--runs=N] [--sizes=1024,4096,16384] [--variant=SUBSTRING]
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_verifier.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/planner/sync_topology.h"

// ---- Heap accounting: every global operator new/delete in this process. ----
// Sizes are malloc_usable_size (the bytes malloc really hands out), so new and
// delete agree without a header. Counted only while g_counting (the memory
// run), so the timed runs pay nothing but a flag test.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long long> g_live_bytes{0};
std::atomic<long long> g_peak_bytes{0};

void* CountedAlloc(std::size_t size, std::size_t align) {
  void* p =
      align <= alignof(std::max_align_t)
          ? std::malloc(size == 0 ? 1 : size)
          : std::aligned_alloc(align, (std::max<std::size_t>(size, 1) + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  if (!g_counting.load(std::memory_order_relaxed)) return p;
  const long long bytes = static_cast<long long>(malloc_usable_size(p));
  const long long live = g_live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  long long peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
  return p;
}

void CountedFree(void* p) {
  if (p == nullptr) return;
  if (g_counting.load(std::memory_order_relaxed)) {
    g_live_bytes.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
  }
  std::free(p);
}
}  // namespace

void* operator new(std::size_t size) { return CountedAlloc(size, 0); }
void* operator new[](std::size_t size) { return CountedAlloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return CountedAlloc(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return CountedAlloc(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedAlloc(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedAlloc(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { CountedFree(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { CountedFree(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { CountedFree(p); }

namespace paramsync::planner {
namespace {

constexpr int kGpusPerNode = 8;

struct Variant {
  std::string name;
  bool colocated;
  int dst_tp;  // 8: single stage; 16: two-stage (tp_num_mapping 2).
  bool hep;    // Trainer ep 8 with hyper expert parallel.
};

const std::vector<Variant>& Variants() {
  static const auto* const kVariants = new std::vector<Variant>{
      {"coloc tp8", true, 8, false},      {"coloc tp16", true, 16, false},
      {"coloc tp8 hep", true, 8, true},   {"coloc tp16 hep", true, 16, true},
      {"disagg tp8", false, 8, false},    {"disagg tp16", false, 16, false},
      {"disagg tp8 hep", false, 8, true}, {"disagg tp16 hep", false, 16, true},
  };
  return *kVariants;
}

// Trainer: Megatron tp8 pp4 dp = gpus / 32 on nodes 0.., GPU = rank % 8.
// Inference: vLLM replicas of dst_tp ranks, as many ranks as the trainer's.
// Colocated, replica ranks go onto the trainer's GPUs, reversed within each
// node; disaggregated, onto nodes after the trainer's, in order.
SyncTopology MakeTopology(int gpus, const Variant& v) {
  SyncTopology t;
  t.group_name = "bench";
  t.comm_type = CommType::kBroadcast;
  t.regroup_comm_type = RegroupCommType::kAllToAll;
  t.hep = v.hep;
  t.colocated = v.colocated;
  t.src = ModelParallelism{std::string(kEngineMegatron), 8, 4, v.hep ? 8 : 1, gpus / 32, 1};
  t.dst = ModelParallelism{std::string(kEngineVllm), v.dst_tp, 1, 1, 1, gpus / v.dst_tp};
  const ModelParallelism& src = t.src;
  const ModelParallelism& dst = t.dst;
  t.endpoints.reserve(2 * gpus);
  for (int rank = 0; rank < gpus; ++rank) {
    EndpointPlacement e;
    e.is_src = true;
    e.rank = rank;
    e.local_rank = rank;
    e.node = rank / kGpusPerNode;
    e.gpu = rank % kGpusPerNode;
    e.tp_rank = rank % src.tp;
    e.dp_rank = (rank / src.tp) % src.dp;
    e.pp_rank = rank / (src.tp * src.dp);
    e.ep_rank = e.dp_rank % src.ep;
    t.endpoints.push_back(e);
  }
  const int first_node = v.colocated ? 0 : gpus / kGpusPerNode;
  for (int i = 0; i < gpus; ++i) {  // i: the inference rank's slot, GPU order.
    EndpointPlacement e;
    e.is_src = false;
    e.rank = gpus + i;
    e.replica = i / dst.tp;
    e.local_rank = i % dst.tp;
    e.node = first_node + i / kGpusPerNode;
    e.gpu = v.colocated ? kGpusPerNode - 1 - i % kGpusPerNode : i % kGpusPerNode;
    e.tp_rank = e.local_rank % dst.tp;
    e.pp_rank = e.local_rank / dst.tp;
    t.endpoints.push_back(e);
  }
  return t;
}

size_t PairCount(const SyncPlan& plan) {
  return plan.stage1.size() + plan.stage2.size() + plan.routed_experts.size();
}

struct Measurement {
  double plan_ms = 0;         // Median BuildSyncPlan.
  double plan_min_ms = 0;     // Fastest BuildSyncPlan (least disturbed by other load).
  double plan_verify_ms = 0;  // Median BuildSyncPlan + VerifySyncPlan (0: no verifier).
  long long peak_bytes = 0;   // Heap peak above the bytes live before BuildSyncPlan.
  long long plan_bytes = 0;   // Heap the returned plan keeps.
  size_t pairs = 0;
  size_t groups = 0;
  std::string error;         // BuildSyncPlan failed: nothing timed.
  std::string verify_error;  // VerifySyncPlan refused the plan (its time is then not shown).
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

Measurement Measure(const SyncTopology& topology, int runs) {
  Measurement m;
  {  // Memory, on a run of its own.
    const long long before = g_live_bytes.load();
    g_peak_bytes.store(before);
    g_counting.store(true);
    absl::StatusOr<SyncPlan> plan = BuildSyncPlan(topology);
    g_counting.store(false);
    m.peak_bytes = g_peak_bytes.load() - before;
    m.plan_bytes = g_live_bytes.load() - before;
    if (!plan.ok()) {
      m.error = std::string(plan.status().message());
      return m;
    }
    m.pairs = PairCount(*plan);
    m.groups = plan->collective_groups.size();
    const absl::Status verified = VerifySyncPlan(topology, *plan);
    if (!verified.ok()) m.verify_error = std::string(verified.message());
  }
  std::vector<double> plan_ms, both_ms;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<SyncPlan> plan = BuildSyncPlan(topology);
    const auto t1 = std::chrono::steady_clock::now();
    plan_ms.push_back(Millis(t1 - t0));
    const absl::Status verified = VerifySyncPlan(topology, *plan);
    const auto t2 = std::chrono::steady_clock::now();
    both_ms.push_back(Millis(t2 - t0));
  }
  m.plan_ms = Median(plan_ms);
  m.plan_min_ms = *std::min_element(plan_ms.begin(), plan_ms.end());
  if (!both_ms.empty() && m.verify_error.empty()) m.plan_verify_ms = Median(both_ms);
  return m;
}

int Main(int argc, char** argv) {
  int runs = 5;
  std::vector<int> sizes = {1024, 4096, 16384};
  std::string only;  // Variants whose name contains this.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--runs=", 0) == 0) {
      if (!absl::SimpleAtoi(arg.substr(7), &runs) || runs < 1) runs = 5;
    } else if (arg.rfind("--sizes=", 0) == 0) {
      sizes.clear();
      for (absl::string_view s : absl::StrSplit(arg.substr(8), ',')) {
        int n = 0;
        if (absl::SimpleAtoi(s, &n) && n >= 32 && n % 32 == 0) sizes.push_back(n);
      }
    } else if (arg.rfind("--variant=", 0) == 0) {
      only = arg.substr(10);
    } else {
      std::fprintf(stderr, "usage: %s [--runs=N] [--sizes=1024,4096,16384] [--variant=SUBSTRING]\n",
                   argv[0]);
      return 2;
    }
  }
  if (sizes.empty()) return 2;

  std::printf(
      "trainer Megatron tp8 pp4 (ep8 with hep), dp = GPUs/32; vLLM pp1 replicas, "
      "as many inference ranks as trainer ranks; median of %d runs at the largest size, "
      "proportionally more at smaller ones (the same total work, steadier on a busy machine)\n",
      runs);
  std::printf(
      "memory: heap bytes counted by a global operator new/delete (malloc_usable_size): "
      "peak = high-water mark above the bytes live before BuildSyncPlan, "
      "plan = bytes the SyncPlan keeps\n");
  std::printf("plan+ver: BuildSyncPlan then VerifySyncPlan, median of the same runs\n\n");
  std::printf("%7s %7s  %-16s %10s %9s %12s %12s %12s %9s %8s\n", "GPUs", "ranks", "variant",
              "plan ms", "(min)", "plan+ver ms", "peak bytes", "plan bytes", "pairs", "groups");
  // [variant][size index] -> plan ms, plan+verify ms.
  std::map<std::string, std::vector<std::pair<double, double>>> times;
  std::vector<std::string> notes;
  for (int gpus : sizes) {
    for (const Variant& v : Variants()) {
      if (v.name.find(only) == std::string::npos) continue;
      const SyncTopology topology = MakeTopology(gpus, v);
      const int largest = *std::max_element(sizes.begin(), sizes.end());
      const Measurement m = Measure(topology, runs * std::max(1, largest / gpus));
      if (!m.error.empty()) {
        std::printf("%7d %7zu  %-16s ERROR %s\n", gpus, topology.endpoints.size(), v.name.c_str(),
                    m.error.c_str());
        times[v.name].push_back({0, 0});
        continue;
      }
      char verify[32] = "-";
      if (!m.verify_error.empty()) {
        std::snprintf(verify, sizeof(verify), "refused[%zu]", notes.size() + 1);
        notes.push_back(std::to_string(gpus) + " " + v.name + ": " + m.verify_error);
      } else if (m.plan_verify_ms > 0) {
        std::snprintf(verify, sizeof(verify), "%.2f", m.plan_verify_ms);
      }
      std::printf("%7d %7zu  %-16s %10.2f %9.2f %12s %12lld %12lld %9zu %8zu\n", gpus,
                  topology.endpoints.size(), v.name.c_str(), m.plan_ms, m.plan_min_ms, verify,
                  m.peak_bytes, m.plan_bytes, m.pairs, m.groups);
      std::fflush(stdout);
      times[v.name].push_back({m.plan_ms, m.plan_verify_ms});
    }
  }
  for (size_t i = 0; i < notes.size(); ++i) {
    std::printf("[%zu] VerifySyncPlan refused %s\n", i + 1, notes[i].substr(0, 300).c_str());
  }
  if (sizes.size() >= 2) {
    const double size_ratio = static_cast<double>(sizes.back()) / sizes.front();
    std::printf("\ngrowth %d -> %d GPUs (size ratio %.0fx; linear = %.0f, quadratic = %.0f)\n",
                sizes.front(), sizes.back(), size_ratio, size_ratio, size_ratio * size_ratio);
    std::printf("  %-16s %12s %14s\n", "variant", "plan", "plan+verify");
    for (const Variant& v : Variants()) {
      if (v.name.find(only) == std::string::npos) continue;
      const auto& t = times[v.name];
      const auto ratio = [](double a, double b) {
        char text[32] = "-";
        if (a > 0 && b > 0) std::snprintf(text, sizeof(text), "%.1fx", b / a);
        return std::string(text);
      };
      std::printf("  %-16s %12s %14s\n", v.name.c_str(),
                  ratio(t.front().first, t.back().first).c_str(),
                  ratio(t.front().second, t.back().second).c_str());
    }
  }
  return 0;
}

}  // namespace
}  // namespace paramsync::planner

int main(int argc, char** argv) { return paramsync::planner::Main(argc, argv); }
