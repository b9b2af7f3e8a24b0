// File: bench/local_cluster.h
// -----------------------------------------------------------------------------
// A whole paramsync deployment on this machine, as separate processes: one
// coordinator, N agents (CPU devices) and framework processes (tensor_holder)
// that register transformer-shaped parameter sets. Used by the demo, benchmarks
// and integration tests; everything it started stops when it is destroyed.
#ifndef PARAMSYNC_BENCH_LOCAL_CLUSTER_H_
#define PARAMSYNC_BENCH_LOCAL_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/child_process.h"
#include "common/credentials.h"

namespace paramsync::bench {

// One model's ranks, laid out on agents.
struct ModelDeployment {
  std::string model;
  bool trainer = true;
  int tp = 1;
  int dp = 1;               // Trainer: Megatron data parallel size.
  int replicas = 1;         // Inference: number of replicas.
  std::vector<int> agents;  // Agent index of each rank, in model rank order.
  std::string preset = "small";
  uint64_t seed = 1;
  std::string mismatch;  // Passed to tensor_holder --mismatch.
  int skip_rank = -1;    // A rank not started (to test incomplete models).
  int ep = 1;            // Trainer: expert parallel size (divides dp).
  int pp = 1;            // Pipeline stages (each holds its layers; inference: per replica).
  // Inference: how routed experts are held ("experts" or "tp", tensor_holder's
  // --expert_layout); matters for HEP syncs only.
  std::string expert_layout = "tp";
  // Register the tensors a framework layout gives each rank instead of
  // `preset` (tensor_holder's --layout_preset and --model_config).
  std::string layout_preset;
  std::string model_config;
};

// TLS material and tokens (files) of a cluster's processes; empty configs run
// plaintext without tokens.
struct ClusterSecurity {
  SecurityConfig daemons;  // Coordinator and agents (with the daemon token).
  SecurityConfig clients;  // Framework processes and the cluster's own client.
};

// The command-line flags that give a process `config` (--tls_cert=..., ...;
// the daemon-only ones only when `daemon`).
std::vector<std::string> SecurityFlags(const SecurityConfig& config, bool daemon);

class LocalCluster {
 public:
  // Starts a coordinator and `num_agents` CPU agents, logs under `work_dir`,
  // and waits until every agent registered.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(int num_agents,
                                                             const std::string& work_dir);
  // Same, one agent per entry of `devices` ("cpu", "cuda:N"); framework
  // processes put their tensors on their agent's device.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      const std::vector<std::string>& devices, const std::string& work_dir);
  // Same, every process with its part of `security`.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      const std::vector<std::string>& devices, const std::string& work_dir,
      const ClusterSecurity& security);
  // Same, every start of the coordinator (restarts too) with
  // `coordinator_flags` added, e.g. --state_file=F.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      const std::vector<std::string>& devices, const std::string& work_dir,
      const ClusterSecurity& security, const std::vector<std::string>& coordinator_flags);
  // Same, every start of an agent (restarts too) with `agent_flags` added.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      const std::vector<std::string>& devices, const std::string& work_dir,
      const ClusterSecurity& security, const std::vector<std::string>& coordinator_flags,
      const std::vector<std::string>& agent_flags);
  ~LocalCluster();

  const std::string& coordinator_address() const { return coordinator_address_; }
  const std::string& agent_address(int i) const { return agent_addresses_[i]; }
  // Where each daemon serves Prometheus metrics (--metrics_listen), host:port.
  const std::string& coordinator_metrics_address() const { return coordinator_metrics_address_; }
  const std::string& agent_metrics_address(int i) const { return agent_metrics_addresses_[i]; }
  ChildProcess& coordinator() { return *coordinator_; }
  ChildProcess& agent(int i) { return *agents_[i]; }
  const ClusterSecurity& security() const { return security_; }

  // Stops the coordinator (SIGKILL when `crash`, else SIGTERM) and starts a new
  // one on the same address with the same flags; agents must find it and
  // register again by themselves.
  absl::Status RestartCoordinator(bool crash);

  // Stops agent `i` (SIGKILL when `crash`, else SIGTERM; either way a no-op if
  // it already exited) and starts a new one on the same address with the same
  // flags; waits until the coordinator lists it under a new id. Framework
  // processes on it register their endpoints again by themselves.
  absl::Status RestartAgent(int i, bool crash);

  // Gives agent `i` `flags` too, after the cluster's agent flags, from its next
  // start on (RestartAgent), e.g. --data_advertise_address for it alone.
  void AddAgentFlags(int i, const std::vector<std::string>& flags);

  // Starts one framework process per rank of `model` and waits until each
  // registered. Returns them in model rank order (owned by the cluster; without
  // `skip_rank`). An
  // error carries the first failing rank's "error <CODE> <message>" line.
  absl::StatusOr<std::vector<ChildProcess*>> Deploy(const ModelDeployment& model);

  // Sends `command` to every process and checks each answers a line starting with
  // "ok"; returns the answers.
  static absl::StatusOr<std::vector<std::string>> CommandAll(
      const std::vector<ChildProcess*>& processes, const std::string& command);

 private:
  LocalCluster(std::string work_dir, std::string bin_dir, ClusterSecurity security)
      : work_dir_(std::move(work_dir)),
        bin_dir_(std::move(bin_dir)),
        security_(std::move(security)) {}
  std::string Binary(const std::string& relative) const;
  // Starts a daemon serving metrics on a free loopback port; returns its
  // address and sets `metrics_address`.
  absl::StatusOr<std::string> StartDaemon(const std::vector<std::string>& argv,
                                          const std::string& name,
                                          std::unique_ptr<ChildProcess>* out,
                                          std::string* metrics_address);
  absl::StatusOr<std::string> StartCoordinator(const std::string& listen);
  // Starts agent `i` listening on `listen` as agents_[i] (appended when new).
  absl::StatusOr<std::string> StartAgent(int i, const std::string& listen);
  absl::Status WaitForAgents(int count);

  int coordinator_starts_ = 0;
  std::vector<std::string> coordinator_flags_;
  std::vector<std::string> agent_flags_;
  std::map<int, std::vector<std::string>> own_agent_flags_;  // By agent index.
  int agent_restarts_ = 0;

  const std::string work_dir_;
  const std::string bin_dir_;
  const ClusterSecurity security_;
  std::string coordinator_address_;
  std::vector<std::string> agent_addresses_;
  std::string coordinator_metrics_address_;
  std::vector<std::string> agent_metrics_addresses_;
  std::vector<std::string> agent_devices_;
  // Destroyed in reverse: framework processes, then agents, then the coordinator.
  std::unique_ptr<ChildProcess> coordinator_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
  std::vector<std::unique_ptr<ChildProcess>> holders_;
};

// A fresh directory for logs: $TEST_TMPDIR when set (Bazel tests), else /tmp.
std::string MakeWorkDir(const std::string& name);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_LOCAL_CLUSTER_H_
