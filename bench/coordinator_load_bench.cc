// File: bench/coordinator_load_bench.cc
// -----------------------------------------------------------------------------
// coordinator_load_bench: one real coordinator process under the control-plane
// load of a large job (issue #5, "Load"). It starts paramsync-coordinator as a
// child process and simulates --agents agents (default 1,024) in this process
// as real gRPC clients over loopback, each with a channel (TCP connection) of
// its own, as separate agent processes would have:
//
//   0. every agent's channel connects (TCP + HTTP/2), one after another, so
//      that RegisterAgent's latency is the RPC's own (--preconnect=false
//      leaves connecting to the first RPC, as a real agent's first call);
//   1. every agent registers (RegisterAgent, host agents: DEVICE_KIND_HOST, so
//      planning needs no AgentControl call back to them) and starts
//      heartbeating at the interval the coordinator answers;
//   2. every agent registers one endpoint with a few transformer-shaped
//      parameters: agents 0..N/2-1 hold a Megatron trainer (--trainer_tp x
//      --trainer_pp x dp), agents N/2..N-1 a vLLM model of N/2 ranks in TP
//      --inference_tp replicas; 8 agents a host;
//   3. --duration_s of steady heartbeating: the measured period;
//   4. an orchestration client creates a sync group over the two models and
//      calls GetPlan: once cold (the coordinator builds the rank plan, verifies
//      it and builds the transfer plan for every rank), --plan_calls times from
//      the cache, and --rebuilds times after one endpoint re-registered (which
//      invalidates the cache), all while the agents keep heartbeating.
//
// It prints RPC latency percentiles per call (heartbeats per phase), and per
// phase the coordinator's CPU use (utime+stime from /proc/<pid>/stat, as % of
// one core), its RSS (VmRSS), peak RSS (VmHWM) and thread count at the phase's
// end, this process's own CPU use (the clients share the machine with the
// coordinator) and what the rest of the machine used (/proc/stat; a warning
// says when other processes disturbed the run), and every error: there must be
// none (the exit status is 1 otherwise). The coordinator runs with its default
// flags but --heartbeat_interval_ms, plaintext on loopback, no state file.
//
// Client threading: the agents are spread over --threads threads (default 2),
// each driving its share through one gRPC CompletionQueue with the async API,
// not 1,024 blocking threads. On a 2-core machine the simulated agents compete
// with the coordinator for the same cores; an event loop per core keeps the
// client side's CPU small and visible (reported next to the coordinator's),
// and heartbeats leave on schedule rather than whenever the kernel gets round
// to one of 1,024 threads. A heartbeat's latency runs from the moment its call
// is started to the moment its completion is dequeued, so it includes the
// client's own queueing; the "started late" line says how far behind schedule
// calls were started (it must stay far below the interval for the load to be what
// was asked for). An agent whose previous heartbeat is still in flight skips
// a beat (a real agent heartbeats sequentially); skips are counted.
//
// Heartbeats are spread uniformly over the interval (each agent's first one a
// random fraction of an interval after its registration), as agents of a
// long-running job drift apart; --aligned makes every agent heartbeat at the
// same instants instead (the worst case for latency).
//
// The coordinator binary is found as the other benchmarks find theirs:
// $PARAMSYNC_BIN_DIR/coordinator/paramsync-coordinator, or relative to the
// runfiles root (bazel run), or --coordinator_binary. Build with -c opt:
//
//   bazel run -c opt //bench:coordinator_load_bench -- --agents=1024 --duration_s=20
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/child_process.h"
#include "common/grpc_channels.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

ABSL_FLAG(int, agents, 1024, "simulated agents (even; half trainer ranks, half inference ranks)");
ABSL_FLAG(int, trainer_tp, 8, "trainer tensor parallel size");
ABSL_FLAG(int, trainer_pp, 4, "trainer pipeline parallel size (dp = agents/2 / (tp*pp))");
ABSL_FLAG(int, inference_tp, 8, "inference tensor parallel size (a multiple of trainer_tp)");
ABSL_FLAG(int, heartbeat_interval_ms, 1000,
          "the coordinator's --heartbeat_interval_ms (1000 is its default)");
ABSL_FLAG(int, duration_s, 20, "measured period of steady heartbeating");
ABSL_FLAG(int, threads, 2, "client threads (one completion queue each)");
ABSL_FLAG(int, register_concurrency, 64, "registrations in flight at once, all threads together");
ABSL_FLAG(int, plan_calls, 20, "GetPlan calls served from the plan cache");
ABSL_FLAG(int, rebuilds, 5, "GetPlan calls after an endpoint re-registered (plan rebuilt)");
ABSL_FLAG(bool, aligned, false, "every agent heartbeats at the same instants");
ABSL_FLAG(bool, preconnect, true,
          "connect every agent's channel before registering (else the first RPC connects)");
ABSL_FLAG(std::string, coordinator_binary, "",
          "paramsync-coordinator to start (default: found as the other benchmarks do)");
ABSL_FLAG(std::string, work_dir, "", "where the coordinator's log goes (default: a new /tmp dir)");

namespace paramsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAgentsPerHost = 8;
constexpr int64_t kHidden = 4096;
constexpr int64_t kVocab = 32768;
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);  // As real agents (agent_server.h).

enum Phase : int {
  kIdle = 0,
  kConnect,
  kRegisterAgents,
  kRegisterEndpoints,
  kSteady,
  kPlan,
  kNumPhases,
};
const char* const kPhaseNames[kNumPhases] = {
    "idle", "connect", "register agents", "register endpoints", "steady heartbeats", "GetPlan"};

enum RpcKind : int { kRegisterAgentRpc = 0, kRegisterEndpointRpc, kHeartbeatRpc, kNumKinds };
const char* const kRpcNames[kNumKinds] = {"RegisterAgent", "RegisterEndpoint", "Heartbeat"};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ---- The coordinator process, seen through /proc. ----

struct ProcSample {
  Clock::time_point at;
  double cpu_s = 0;  // utime + stime.
  int64_t rss_kb = 0;
  int64_t hwm_kb = 0;
  int threads = 0;
};

absl::StatusOr<ProcSample> SampleProcess(pid_t pid) {
  ProcSample sample;
  sample.at = Clock::now();
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return absl::NotFoundError(absl::StrCat("no process ", pid));
  // Fields after the command name (which may hold spaces), from field 3 (state).
  const size_t paren = line.rfind(')');
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::InternalError(absl::StrCat("cannot parse /proc/", pid, "/stat: ", line));
  }
  sample.cpu_s = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  while (std::getline(status, line)) {
    std::istringstream in(line);
    std::string key;
    int64_t value = 0;
    in >> key >> value;
    if (key == "VmRSS:") sample.rss_kb = value;
    if (key == "VmHWM:") sample.hwm_kb = value;
    if (key == "Threads:") sample.threads = static_cast<int>(value);
  }
  return sample;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// CPU seconds the whole machine spent busy (all cores; /proc/stat).
double MachineBusySeconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  int64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) / sysconf(_SC_CLK_TCK);
}

// ---- The simulated agents. ----

struct Layout {
  int agents = 0;
  int trainer_ranks = 0;
  int tp = 0, pp = 0, dp = 0;
  int inference_tp = 0;
  int replicas = 0;
};

v1::ParameterSpec Parameter(const std::string& name, std::vector<int64_t> full, int split_dim,
                            int tp) {
  v1::ParameterSpec p;
  p.set_name(name);
  p.set_dtype(v1::DTYPE_BFLOAT16);
  if (split_dim >= 0) {
    full[split_dim] /= tp;
    p.set_tp_split_dim(split_dim);
  }
  for (int64_t d : full) p.add_shape(d);
  return p;
}

// The parameters of pipeline stage `stage` of a model of `stages` stages, as a
// rank of TP `tp` holds them: a transformer layer per stage (qkv column-split,
// output projection row-split, a replicated norm), the embedding on the first
// stage, the LM head on the last.
void AddStageParameters(int stage, int stages, int tp, v1::RegisterEndpointRequest* request) {
  if (stage == 0) *request->add_parameters() = Parameter("embed.weight", {kVocab, kHidden}, 0, tp);
  const std::string layer = absl::StrCat("layers.", stage, ".");
  *request->add_parameters() = Parameter(layer + "qkv.weight", {3 * kHidden, kHidden}, 0, tp);
  *request->add_parameters() = Parameter(layer + "proj.weight", {kHidden, kHidden}, 1, tp);
  *request->add_parameters() = Parameter(layer + "norm.weight", {kHidden}, -1, tp);
  if (stage == stages - 1) {
    *request->add_parameters() = Parameter("lm_head.weight", {kVocab, kHidden}, 0, tp);
  }
}

struct SimAgent {
  int index = 0;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Coordinator::Stub> stub;
  v1::AgentInfo info;
  v1::RegisterEndpointRequest endpoint;  // agent_id set once registered.
  std::string id;                        // Written by its shard, read after registration.
  Clock::duration interval{};
  bool heartbeat_in_flight = false;
};

void DescribeAgent(const Layout& layout, int index, SimAgent* agent) {
  agent->index = index;
  agent->info.set_host(absl::StrCat("node", index / kAgentsPerHost));
  agent->info.set_device(absl::StrCat("cpu:", index % kAgentsPerHost));
  // Never dialed (nothing here needs an AgentControl call), but unique: the
  // registry replaces an agent registering again from the same address.
  agent->info.set_address(absl::StrCat("127.0.0.1:", 20000 + index));
  agent->info.set_gpu_index(-1);
  agent->info.set_device_kind(v1::DEVICE_KIND_HOST);
  v1::EndpointSpec* spec = agent->endpoint.mutable_endpoint();
  v1::ParallelConfig* parallel = spec->mutable_parallel();
  parallel->set_ep_size(1);
  if (index < layout.trainer_ranks) {
    // Megatron: rank = pp_rank*tp*dp + dp_rank*tp + tp_rank.
    const int rank = index;
    spec->set_model("policy_trainer");
    spec->set_role(v1::ROLE_TRAINER);
    spec->set_rank(rank);
    parallel->set_tp_size(layout.tp);
    parallel->set_pp_size(layout.pp);
    parallel->set_dp_size(layout.dp);
    parallel->set_tp_rank(rank % layout.tp);
    parallel->set_dp_rank((rank / layout.tp) % layout.dp);
    parallel->set_pp_rank(rank / (layout.tp * layout.dp));
    AddStageParameters(parallel->pp_rank(), layout.pp, layout.tp, &agent->endpoint);
  } else {
    // vLLM: rank = replica*tp + local_rank; every rank holds every layer.
    const int rank = index - layout.trainer_ranks;
    spec->set_model("policy_vllm");
    spec->set_role(v1::ROLE_INFERENCE);
    spec->set_rank(rank);
    spec->set_replica(rank / layout.inference_tp);
    spec->set_local_rank(rank % layout.inference_tp);
    parallel->set_tp_size(layout.inference_tp);
    parallel->set_pp_size(1);
    parallel->set_dp_size(1);
    parallel->set_tp_rank(rank % layout.inference_tp);
    for (int stage = 0; stage < layout.pp; ++stage) {
      AddStageParameters(stage, layout.pp, layout.inference_tp, &agent->endpoint);
    }
  }
}

// Shared between the main thread and the shards.
struct Control {
  std::atomic<int> phase{kIdle};
  std::atomic<bool> stop{false};
  std::atomic<int> agents_registered{0};
  std::atomic<int> endpoints_registered{0};
  Clock::duration interval{};
  Clock::time_point epoch;  // --aligned: heartbeats at epoch + k * interval.
  bool aligned = false;
};

struct LatencySample {
  int64_t ns;
  int phase;
};

// The errors of one kind of call: how many, and the first few messages.
struct Errors {
  int64_t count = 0;
  std::vector<std::string> first;
  void Add(const std::string& message) {
    ++count;
    if (first.size() < 5) first.push_back(message);
  }
};

// One client thread: a completion queue driving its share of the agents.
class Shard {
 public:
  Shard(std::vector<SimAgent*> agents, Control* control, int register_cap, uint64_t seed)
      : agents_(std::move(agents)), control_(control), register_cap_(register_cap), rng_(seed) {}

  void Run() {
    std::deque<SimAgent*> to_register(agents_.begin(), agents_.end());
    std::deque<SimAgent*> to_register_endpoint;
    while (true) {
      const bool stopping = control_->stop.load(std::memory_order_acquire);
      if (stopping && in_flight_ == 0) break;
      const int phase = control_->phase.load(std::memory_order_acquire);
      Clock::time_point now = Clock::now();
      if (!stopping) {
        while (phase >= kRegisterAgents && !to_register.empty() &&
               registrations_in_flight_ < register_cap_) {
          StartRegisterAgent(to_register.front(), phase);
          to_register.pop_front();
        }
        if (phase >= kRegisterEndpoints && !registered_.empty()) {
          for (SimAgent* agent : registered_) to_register_endpoint.push_back(agent);
          registered_.clear();
        }
        while (phase >= kRegisterEndpoints && !to_register_endpoint.empty() &&
               registrations_in_flight_ < register_cap_) {
          StartRegisterEndpoint(to_register_endpoint.front(), phase);
          to_register_endpoint.pop_front();
        }
        while (!beats_.empty() && beats_.top().due <= now) {
          Beat beat = beats_.top();
          beats_.pop();
          if (beat.agent->heartbeat_in_flight) {
            ++skipped_;
          } else {
            late_ns_.push_back(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - beat.due).count());
            StartHeartbeat(beat.agent, phase);
          }
          beats_.push({beat.due + beat.agent->interval, beat.agent});
        }
      }
      // Wake for the next heartbeat, or within 5 ms to see phase changes.
      Clock::time_point wake = now + std::chrono::milliseconds(5);
      if (!beats_.empty() && !stopping) wake = std::min(wake, beats_.top().due);
      void* tag = nullptr;
      bool ok = false;
      const int64_t wait_us = std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(wake - now).count());
      const grpc::CompletionQueue::NextStatus next = cq_.AsyncNext(
          &tag, &ok,
          gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_micros(wait_us, GPR_TIMESPAN)));
      if (next == grpc::CompletionQueue::GOT_EVENT) Complete(static_cast<Call*>(tag));
    }
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) Complete(static_cast<Call*>(tag));
  }

  const std::vector<LatencySample>& samples(RpcKind kind) const { return samples_[kind]; }
  const Errors& errors(RpcKind kind) const { return errors_[kind]; }
  int64_t errors_in_phase(RpcKind kind, int phase) const { return phase_errors_[kind][phase]; }
  const std::vector<int64_t>& late_ns() const { return late_ns_; }
  int64_t skipped() const { return skipped_; }

 private:
  struct Call {
    RpcKind kind;
    SimAgent* agent;
    int phase;
    Clock::time_point start;
    grpc::ClientContext context;
    grpc::Status status;
    v1::RegisterAgentRequest register_request;
    v1::RegisterAgentResponse register_response;
    v1::RegisterEndpointResponse endpoint_response;
    v1::HeartbeatRequest heartbeat_request;
    v1::HeartbeatResponse heartbeat_response;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RegisterAgentResponse>> register_reader;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RegisterEndpointResponse>> endpoint_reader;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::HeartbeatResponse>> heartbeat_reader;
  };
  struct Beat {
    Clock::time_point due;
    SimAgent* agent;
    bool operator>(const Beat& other) const { return due > other.due; }
  };

  Call* NewCall(RpcKind kind, SimAgent* agent, int phase) {
    Call* call = new Call;
    call->kind = kind;
    call->agent = agent;
    call->phase = phase;
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
    ++in_flight_;
    return call;
  }

  void StartRegisterAgent(SimAgent* agent, int phase) {
    Call* call = NewCall(kRegisterAgentRpc, agent, phase);
    *call->register_request.mutable_agent() = agent->info;
    ++registrations_in_flight_;
    call->start = Clock::now();
    call->register_reader =
        agent->stub->AsyncRegisterAgent(&call->context, call->register_request, &cq_);
    call->register_reader->Finish(&call->register_response, &call->status, call);
  }

  void StartRegisterEndpoint(SimAgent* agent, int phase) {
    Call* call = NewCall(kRegisterEndpointRpc, agent, phase);
    ++registrations_in_flight_;
    call->start = Clock::now();
    call->endpoint_reader =
        agent->stub->AsyncRegisterEndpoint(&call->context, agent->endpoint, &cq_);
    call->endpoint_reader->Finish(&call->endpoint_response, &call->status, call);
  }

  void StartHeartbeat(SimAgent* agent, int phase) {
    Call* call = NewCall(kHeartbeatRpc, agent, phase);
    call->heartbeat_request.set_agent_id(agent->id);
    agent->heartbeat_in_flight = true;
    call->start = Clock::now();
    call->heartbeat_reader =
        agent->stub->AsyncHeartbeat(&call->context, call->heartbeat_request, &cq_);
    call->heartbeat_reader->Finish(&call->heartbeat_response, &call->status, call);
  }

  void Complete(Call* call) {
    std::unique_ptr<Call> owned(call);
    const Clock::time_point end = Clock::now();
    --in_flight_;
    SimAgent* agent = call->agent;
    if (call->kind != kHeartbeatRpc) --registrations_in_flight_;
    if (!call->status.ok()) {
      errors_[call->kind].Add(absl::StrCat("agent ", agent->index, ": ", call->status.error_code(),
                                           " ", call->status.error_message()));
      ++phase_errors_[call->kind][call->phase];
      if (call->kind == kHeartbeatRpc) agent->heartbeat_in_flight = false;
      return;
    }
    samples_[call->kind].push_back(
        {std::chrono::duration_cast<std::chrono::nanoseconds>(end - call->start).count(),
         call->phase});
    switch (call->kind) {
      case kRegisterAgentRpc: {
        agent->id = call->register_response.agent_id();
        agent->endpoint.set_agent_id(agent->id);
        agent->interval =
            std::chrono::milliseconds(call->register_response.heartbeat_interval_ms());
        if (agent->interval != control_->interval) {
          errors_[kRegisterAgentRpc].Add(absl::StrCat(
              "agent ", agent->index, ": heartbeat interval ",
              call->register_response.heartbeat_interval_ms(), " ms, expected ",
              std::chrono::duration_cast<std::chrono::milliseconds>(control_->interval).count()));
          agent->interval = control_->interval;
        }
        Clock::time_point first;
        if (control_->aligned) {
          const auto periods = (end - control_->epoch) / agent->interval + 1;
          first = control_->epoch + periods * agent->interval;
        } else {
          std::uniform_int_distribution<int64_t> offset(0, agent->interval.count() - 1);
          first = end + Clock::duration(offset(rng_));
        }
        beats_.push({first, agent});
        registered_.push_back(agent);
        control_->agents_registered.fetch_add(1, std::memory_order_release);
        break;
      }
      case kRegisterEndpointRpc:
        control_->endpoints_registered.fetch_add(1, std::memory_order_release);
        break;
      case kHeartbeatRpc:
        agent->heartbeat_in_flight = false;
        break;
      default:
        break;
    }
  }

  const std::vector<SimAgent*> agents_;
  Control* const control_;
  const int register_cap_;
  std::mt19937_64 rng_;
  grpc::CompletionQueue cq_;
  int in_flight_ = 0;
  int registrations_in_flight_ = 0;
  std::vector<SimAgent*> registered_;  // Registered, endpoint not yet queued.
  std::priority_queue<Beat, std::vector<Beat>, std::greater<Beat>> beats_;
  std::vector<LatencySample> samples_[kNumKinds];
  Errors errors_[kNumKinds];
  int64_t phase_errors_[kNumKinds][kNumPhases] = {};
  std::vector<int64_t> late_ns_;
  int64_t skipped_ = 0;
};

// ---- Reporting. ----

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

Percentiles Summarize(std::vector<double> ms) {
  Percentiles out;
  out.n = ms.size();
  if (ms.empty()) return out;
  std::sort(ms.begin(), ms.end());
  auto at = [&ms](double p) {
    // Nearest rank.
    size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  out.p50 = at(0.5);
  out.p90 = at(0.9);
  out.p99 = at(0.99);
  out.max = ms.back();
  return out;
}

void PrintLatencyRow(const std::string& name, const Percentiles& p, int64_t errors) {
  std::cout << absl::StrFormat("  %-44s %7d %9.3f %9.3f %9.3f %9.3f %7d\n", name, p.n, p.p50, p.p90,
                               p.p99, p.max, errors);
}

std::string CoordinatorBinary() {
  const std::string flag = absl::GetFlag(FLAGS_coordinator_binary);
  if (!flag.empty()) return flag;
  const char* bin_dir = getenv("PARAMSYNC_BIN_DIR");
  const std::string relative = "coordinator/paramsync-coordinator";
  return bin_dir != nullptr && *bin_dir != '\0' ? absl::StrCat(bin_dir, "/", relative) : relative;
}

// Each agent dials its own TCP connection, as a separate process would: gRPC
// otherwise shares one subchannel among channels with equal arguments.
std::shared_ptr<grpc::Channel> AgentChannel(const std::string& address) {
  grpc::ChannelArguments args = DefaultChannelArguments();
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

bool WaitForCount(const std::atomic<int>& counter, int target, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (counter.load(std::memory_order_acquire) < target) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

absl::Status Run() {
  Layout layout;
  layout.agents = absl::GetFlag(FLAGS_agents);
  layout.tp = absl::GetFlag(FLAGS_trainer_tp);
  layout.pp = absl::GetFlag(FLAGS_trainer_pp);
  layout.inference_tp = absl::GetFlag(FLAGS_inference_tp);
  layout.trainer_ranks = layout.agents / 2;
  if (layout.agents < 2 || layout.agents % 2 != 0 || layout.tp < 1 || layout.pp < 1 ||
      layout.trainer_ranks % (layout.tp * layout.pp) != 0 || layout.inference_tp < 1 ||
      layout.inference_tp % layout.tp != 0 || layout.trainer_ranks % layout.inference_tp != 0) {
    return absl::InvalidArgumentError(
        "--agents must be even, agents/2 divisible by trainer_tp*trainer_pp and by inference_tp, "
        "and inference_tp a multiple of trainer_tp");
  }
  layout.dp = layout.trainer_ranks / (layout.tp * layout.pp);
  layout.replicas = layout.trainer_ranks / layout.inference_tp;
  const int interval_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));

  // Two sockets per agent in this process, one per agent in the coordinator's
  // (which inherits the limit).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < static_cast<rlim_t>(layout.agents) + 256) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "open-file limit ", files.rlim_cur, " is too low for ", layout.agents, " connections"));
  }

  std::string work_dir = absl::GetFlag(FLAGS_work_dir);
  if (work_dir.empty()) {
    std::string pattern = "/tmp/coordinator-load-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    work_dir = pattern;
  }
  const std::string address_file = absl::StrCat(work_dir, "/coordinator.address");
  absl::StatusOr<std::unique_ptr<ChildProcess>> started =
      ChildProcess::Spawn({CoordinatorBinary(), "--listen=127.0.0.1:0",
                           absl::StrCat("--heartbeat_interval_ms=", interval_ms),
                           absl::StrCat("--address_file=", address_file)},
                          absl::StrCat(work_dir, "/coordinator.log"), false);
  if (!started.ok()) return started.status();
  std::unique_ptr<ChildProcess> coordinator = *std::move(started);
  absl::StatusOr<std::string> address =
      WaitForAddressFile(address_file, *coordinator, absl::Seconds(20));
  if (!address.ok()) return address.status();
  const pid_t pid = coordinator->pid();

  std::cout << absl::StrFormat(
      "coordinator_load_bench: %d agents (trainer TP%d PP%d DP%d = %d ranks, inference %d x TP%d "
      "= %d ranks, %d agents a host), heartbeat every %d ms%s, %d client threads\n"
      "coordinator pid %d at %s, log %s; this machine: %d cores\n\n",
      layout.agents, layout.tp, layout.pp, layout.dp, layout.trainer_ranks, layout.replicas,
      layout.inference_tp, layout.trainer_ranks, kAgentsPerHost, interval_ms,
      absl::GetFlag(FLAGS_aligned) ? " (aligned)" : " (spread)", threads, pid, *address,
      coordinator->log_path(), static_cast<int>(std::thread::hardware_concurrency()));

  // Phase samples: [phase] = (coordinator at the start, this process's CPU at the start).
  std::vector<ProcSample> at_start(kNumPhases + 1);
  std::vector<double> self_at_start(kNumPhases + 1);
  std::vector<double> machine_at_start(kNumPhases + 1);
  auto mark = [&](int phase) -> absl::Status {
    absl::StatusOr<ProcSample> sample = SampleProcess(pid);
    if (!sample.ok()) return sample.status();
    at_start[phase] = *sample;
    self_at_start[phase] = SelfCpuSeconds();
    machine_at_start[phase] = MachineBusySeconds();
    return absl::OkStatus();
  };

  // Idle: let start-up finish, then measure 2 s of nothing.
  absl::SleepFor(absl::Seconds(1));
  if (absl::Status s = mark(kIdle); !s.ok()) return s;
  absl::SleepFor(absl::Seconds(2));

  std::vector<std::unique_ptr<SimAgent>> agents(layout.agents);
  for (int i = 0; i < layout.agents; ++i) {
    agents[i] = std::make_unique<SimAgent>();
    DescribeAgent(layout, i, agents[i].get());
    agents[i]->channel = AgentChannel(*address);
    agents[i]->stub = v1::Coordinator::NewStub(agents[i]->channel);
  }
  Control control;
  control.interval = std::chrono::milliseconds(interval_ms);
  control.epoch = Clock::now();
  control.aligned = absl::GetFlag(FLAGS_aligned);
  std::vector<std::unique_ptr<Shard>> shards;
  const int register_cap = std::max(1, absl::GetFlag(FLAGS_register_concurrency) / threads);
  for (int t = 0; t < threads; ++t) {
    std::vector<SimAgent*> mine;
    for (int i = t; i < layout.agents; i += threads) mine.push_back(agents[i].get());
    shards.push_back(std::make_unique<Shard>(std::move(mine), &control, register_cap, 1234 + t));
  }
  std::vector<std::thread> shard_threads;
  for (auto& shard : shards) shard_threads.emplace_back([&shard] { shard->Run(); });
  auto stop_shards = [&] {
    control.stop.store(true, std::memory_order_release);
    for (std::thread& thread : shard_threads) {
      if (thread.joinable()) thread.join();
    }
  };

  absl::Status failure;
  std::map<std::string, std::vector<double>> plan_ms;
  std::map<std::string, Errors> plan_errors;
  v1::SyncPlan plan;
  std::vector<double> connect_ms;
  int connect_failures = 0;
  do {
    // Connections first (TCP + HTTP/2 handshake), one agent after another, so
    // that RegisterAgent's latency is the RPC's own. --preconnect=false leaves
    // them to the first RPC, as a real agent's first call would.
    if (absl::Status s = mark(kConnect); !s.ok()) {
      failure = s;
      break;
    }
    if (absl::GetFlag(FLAGS_preconnect)) {
      for (auto& agent : agents) {
        const Clock::time_point start = Clock::now();
        if (agent->channel->WaitForConnected(absl::ToChronoTime(absl::Now() + kRpcTimeout))) {
          connect_ms.push_back(Ms(Clock::now() - start));
        } else {
          ++connect_failures;
        }
      }
    }
    if (absl::Status s = mark(kRegisterAgents); !s.ok()) {
      failure = s;
      break;
    }
    control.phase.store(kRegisterAgents, std::memory_order_release);
    if (!WaitForCount(control.agents_registered, layout.agents, absl::Seconds(120))) {
      failure = absl::DeadlineExceededError(absl::StrCat("only ", control.agents_registered.load(),
                                                         " agents registered within 120 s"));
      break;
    }
    if (absl::Status s = mark(kRegisterEndpoints); !s.ok()) {
      failure = s;
      break;
    }
    control.phase.store(kRegisterEndpoints, std::memory_order_release);
    if (!WaitForCount(control.endpoints_registered, layout.agents, absl::Seconds(120))) {
      failure = absl::DeadlineExceededError(absl::StrCat(
          "only ", control.endpoints_registered.load(), " endpoints registered within 120 s"));
      break;
    }
    if (absl::Status s = mark(kSteady); !s.ok()) {
      failure = s;
      break;
    }
    control.phase.store(kSteady, std::memory_order_release);
    absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_duration_s)));

    if (absl::Status s = mark(kPlan); !s.ok()) {
      failure = s;
      break;
    }
    control.phase.store(kPlan, std::memory_order_release);
    // The orchestration client: its own channel, as paramsyncctl would have.
    std::unique_ptr<v1::Coordinator::Stub> orchestrator =
        v1::Coordinator::NewStub(AgentChannel(*address));
    auto timed = [&](const std::string& name, auto&& call) {
      const Clock::time_point start = Clock::now();
      grpc::Status status = call();
      const double ms = Ms(Clock::now() - start);
      if (status.ok()) {
        plan_ms[name].push_back(ms);
      } else {
        plan_ms[name];
        plan_errors[name].Add(absl::StrCat(status.error_code(), " ", status.error_message()));
      }
      return status;
    };
    auto deadline = [](grpc::ClientContext& context) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    };
    v1::CreateSyncGroupRequest create;
    create.mutable_group()->set_name("load");
    create.mutable_group()->set_src_model("policy_trainer");
    create.mutable_group()->set_dst_model("policy_vllm");
    timed("CreateSyncGroup", [&] {
      grpc::ClientContext context;
      deadline(context);
      v1::CreateSyncGroupResponse response;
      return orchestrator->CreateSyncGroup(&context, create, &response);
    });
    v1::GetPlanRequest get_plan;
    get_plan.set_group("load");
    auto call_get_plan = [&] {
      grpc::ClientContext context;
      deadline(context);
      v1::GetPlanResponse response;
      grpc::Status status = orchestrator->GetPlan(&context, get_plan, &response);
      if (status.ok()) plan = response.plan();
      return status;
    };
    timed("GetPlan cold (build + verify)", call_get_plan);
    for (int i = 0; i < absl::GetFlag(FLAGS_plan_calls); ++i) {
      timed("GetPlan cached", call_get_plan);
    }
    // Rebuilds: trainer rank 0's agent registers its endpoint again (as after
    // its framework process restarted), which invalidates the cached plan.
    for (int i = 0; i < absl::GetFlag(FLAGS_rebuilds); ++i) {
      timed("RegisterEndpoint again (invalidates)", [&] {
        grpc::ClientContext context;
        deadline(context);
        v1::RegisterEndpointResponse response;
        return orchestrator->RegisterEndpoint(&context, agents[0]->endpoint, &response);
      });
      timed("GetPlan after it (rebuild)", call_get_plan);
    }
    // A few more heartbeat intervals after the last plan, to see recovery.
    absl::SleepFor(absl::Milliseconds(2 * interval_ms));
  } while (false);

  absl::StatusOr<ProcSample> end = SampleProcess(pid);
  const double self_end = SelfCpuSeconds();
  const double machine_end = MachineBusySeconds();
  const int final_phase = control.phase.load();
  stop_shards();
  if (!end.ok()) return end.status();
  at_start[final_phase + 1] = *end;
  self_at_start[final_phase + 1] = self_end;
  machine_at_start[final_phase + 1] = machine_end;
  const bool alive = coordinator->Running();
  const int exit_status = coordinator->Terminate(absl::Seconds(10));
  if (!failure.ok()) return failure;
  if (!alive) {
    return absl::InternalError(
        absl::StrCat("the coordinator died during the run; see ", coordinator->log_path()));
  }

  // ---- Latencies. ----
  int64_t total_errors = 0;
  std::vector<double> by_phase[kNumKinds][kNumPhases];
  std::vector<double> late_ms;
  int64_t skipped = 0;
  Errors errors[kNumKinds];
  int64_t heartbeat_errors[kNumPhases] = {};
  for (const auto& shard : shards) {
    for (int kind = 0; kind < kNumKinds; ++kind) {
      for (const LatencySample& s : shard->samples(static_cast<RpcKind>(kind))) {
        by_phase[kind][s.phase].push_back(static_cast<double>(s.ns) / 1e6);
      }
      const Errors& e = shard->errors(static_cast<RpcKind>(kind));
      errors[kind].count += e.count;
      for (const std::string& m : e.first) {
        if (errors[kind].first.size() < 5) errors[kind].first.push_back(m);
      }
    }
    for (int phase = 0; phase < kNumPhases; ++phase) {
      heartbeat_errors[phase] += shard->errors_in_phase(kHeartbeatRpc, phase);
    }
    for (int64_t ns : shard->late_ns()) late_ms.push_back(static_cast<double>(ns) / 1e6);
    skipped += shard->skipped();
  }
  auto all_phases = [&](int kind) {
    std::vector<double> all;
    for (const auto& v : by_phase[kind]) all.insert(all.end(), v.begin(), v.end());
    return all;
  };
  std::cout << absl::StrFormat("  %-44s %7s %9s %9s %9s %9s %7s\n", "RPC latency, ms", "calls",
                               "p50", "p90", "p99", "max", "errors");
  PrintLatencyRow("connect (TCP + HTTP/2, one at a time)", Summarize(connect_ms), connect_failures);
  total_errors += connect_failures;
  PrintLatencyRow("RegisterAgent", Summarize(all_phases(kRegisterAgentRpc)),
                  errors[kRegisterAgentRpc].count);
  PrintLatencyRow("RegisterEndpoint", Summarize(all_phases(kRegisterEndpointRpc)),
                  errors[kRegisterEndpointRpc].count);
  for (int phase = kRegisterAgents; phase < kNumPhases; ++phase) {
    PrintLatencyRow(absl::StrCat("Heartbeat, ", kPhaseNames[phase]),
                    Summarize(by_phase[kHeartbeatRpc][phase]), heartbeat_errors[phase]);
  }
  PrintLatencyRow("Heartbeat, all", Summarize(all_phases(kHeartbeatRpc)),
                  errors[kHeartbeatRpc].count);
  for (const char* name : {"CreateSyncGroup", "GetPlan cold (build + verify)", "GetPlan cached",
                           "RegisterEndpoint again (invalidates)", "GetPlan after it (rebuild)"}) {
    PrintLatencyRow(name, Summarize(plan_ms[name]), plan_errors[name].count);
    total_errors += plan_errors[name].count;
  }
  for (const Errors& e : errors) total_errors += e.count;
  const Percentiles late = Summarize(late_ms);
  std::cout << absl::StrFormat(
      "  heartbeats started late (client schedule): p50 %.3f p99 %.3f max %.3f ms; "
      "beats skipped (previous still in flight): %d\n",
      late.p50, late.p99, late.max, skipped);
  std::cout << absl::StrFormat(
      "  plan: %d stage-1 pairs, %d stage-2 pairs, %d collective groups, tp_num_mapping %d\n\n",
      plan.stage1_size(), plan.stage2_size(), plan.collective_groups_size(), plan.tp_num_mapping());

  // ---- Coordinator process. ----
  std::cout << absl::StrFormat("  %-20s %7s %11s %13s %9s %8s %11s %11s\n", "phase", "wall s",
                               "coord CPU %", "coord RSS MiB", "HWM MiB", "threads", "bench CPU %",
                               "others CPU %");
  double worst_others = 0;
  for (int phase = kIdle; phase <= final_phase; ++phase) {
    const ProcSample& a = at_start[phase];
    const ProcSample& b = at_start[phase + 1];
    const double wall = std::chrono::duration<double>(b.at - a.at).count();
    const double cpu = wall > 0 ? 100.0 * (b.cpu_s - a.cpu_s) / wall : 0;
    const double self =
        wall > 0 ? 100.0 * (self_at_start[phase + 1] - self_at_start[phase]) / wall : 0;
    const double machine =
        wall > 0 ? 100.0 * (machine_at_start[phase + 1] - machine_at_start[phase]) / wall : 0;
    const double others = std::max(0.0, machine - cpu - self);
    if (phase != kConnect && phase != kRegisterAgents && phase != kRegisterEndpoints) {
      worst_others = std::max(worst_others, others);  // Phases long enough to tell.
    }
    std::cout << absl::StrFormat("  %-20s %7.2f %11.1f %13.1f %9.1f %8d %11.1f %11.1f\n",
                                 kPhaseNames[phase], wall, cpu, b.rss_kb / 1024.0,
                                 b.hwm_kb / 1024.0, b.threads, self, others);
  }
  std::cout << absl::StrFormat(
      "  (CPU %% of one core over the phase, %d cores in all; others: the rest of the machine, "
      "kernel softirq work included; RSS, HWM and threads at the phase's end; coordinator RSS "
      "before any agent: %.1f MiB)\n",
      static_cast<int>(std::thread::hardware_concurrency()), at_start[kIdle].rss_kb / 1024.0);
  if (worst_others > 15) {
    std::cout << absl::StrFormat(
        "  WARNING: other processes used up to %.0f%% of a core during the run: the numbers are "
        "disturbed; run again on a quiet machine\n",
        worst_others);
  }
  std::cout << absl::StrFormat("  coordinator exit status after SIGTERM: %d\n\n", exit_status);

  for (int kind = 0; kind < kNumKinds; ++kind) {
    for (const std::string& m : errors[kind].first) {
      std::cout << "  error " << kRpcNames[kind] << ": " << m << "\n";
    }
  }
  for (const auto& [name, e] : plan_errors) {
    for (const std::string& m : e.first) std::cout << "  error " << name << ": " << m << "\n";
  }
  std::cout << "errors: " << total_errors << "\n";
  if (total_errors > 0) return absl::InternalError(absl::StrCat(total_errors, " RPCs failed"));
  return absl::OkStatus();
}

}  // namespace
}  // namespace paramsync::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = paramsync::bench::Run();
  if (!status.ok()) {
    std::cerr << "coordinator_load_bench: " << status << "\n";
    return 1;
  }
  return 0;
}
