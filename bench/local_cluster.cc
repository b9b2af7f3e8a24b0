#include "bench/local_cluster.h"

#include <signal.h>
#include <stdlib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/coordinator_client.h"

namespace paramsync::bench {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);

// Parses "error <CODE> <message>" from tensor_holder into a status.
absl::Status HolderError(const std::string& line) {
  absl::string_view rest = line;
  absl::ConsumePrefix(&rest, "error ");
  const size_t space = rest.find(' ');
  const absl::string_view code = rest.substr(0, space);
  const std::string message(space == absl::string_view::npos ? "" : rest.substr(space + 1));
  for (int c = 0; c <= 16; ++c) {
    const auto status_code = static_cast<absl::StatusCode>(c);
    if (absl::StatusCodeToString(status_code) == code) return absl::Status(status_code, message);
  }
  return absl::UnknownError(line);
}

}  // namespace

std::vector<std::string> SecurityFlags(const SecurityConfig& config, bool daemon) {
  std::vector<std::string> flags;
  auto add = [&flags](const char* flag, const std::string& value) {
    if (!value.empty()) flags.push_back(absl::StrCat("--", flag, "=", value));
  };
  add("tls_cert", config.tls_cert);
  add("tls_key", config.tls_key);
  add("tls_ca", config.tls_ca);
  add("tls_server_name", config.tls_server_name);
  add("token_file", config.token_file);
  if (daemon) {
    add("daemon_token_file", config.daemon_token_file);
    if (config.allow_insecure_remote) flags.push_back("--allow_insecure_remote");
  }
  return flags;
}

std::string MakeWorkDir(const std::string& name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/", name, "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return "/tmp";
  return pattern;
}

std::string LocalCluster::Binary(const std::string& relative) const {
  return bin_dir_.empty() ? relative : absl::StrCat(bin_dir_, "/", relative);
}

absl::StatusOr<std::string> LocalCluster::StartDaemon(const std::vector<std::string>& argv,
                                                      const std::string& name,
                                                      std::unique_ptr<ChildProcess>* out,
                                                      std::string* metrics_address) {
  const std::string address_file = absl::StrCat(work_dir_, "/", name, ".address");
  const std::string metrics_file = absl::StrCat(work_dir_, "/", name, ".metrics_address");
  std::vector<std::string> args = argv;
  args.push_back(absl::StrCat("--address_file=", address_file));
  args.push_back("--metrics_listen=127.0.0.1:0");
  args.push_back(absl::StrCat("--metrics_address_file=", metrics_file));
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Spawn(args, absl::StrCat(work_dir_, "/", name, ".log"), false);
  if (!process.ok()) return process.status();
  *out = *std::move(process);
  absl::StatusOr<std::string> address = WaitForAddressFile(address_file, **out, kStartTimeout);
  if (!address.ok()) return address;
  // Written before the address file.
  absl::StatusOr<std::string> metrics = WaitForAddressFile(metrics_file, **out, kStartTimeout);
  if (!metrics.ok()) return metrics.status();
  *metrics_address = *std::move(metrics);
  return address;
}

absl::StatusOr<std::string> LocalCluster::StartCoordinator(const std::string& listen) {
  std::vector<std::string> argv = {Binary("coordinator/paramsync-coordinator"),
                                   absl::StrCat("--listen=", listen),
                                   "--heartbeat_interval_ms=200"};
  for (std::string& flag : SecurityFlags(security_.daemons, true)) argv.push_back(std::move(flag));
  argv.insert(argv.end(), coordinator_flags_.begin(), coordinator_flags_.end());
  return StartDaemon(argv, absl::StrCat("coordinator", coordinator_starts_++), &coordinator_,
                     &coordinator_metrics_address_);
}

absl::Status LocalCluster::WaitForAgents(int count) {
  client::CoordinatorClient coordinator(coordinator_address_, security_.clients);
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (true) {
    absl::StatusOr<v1::ListAgentsResponse> agents = coordinator.ListAgents();
    if (agents.ok() && agents->agents_size() == count) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(count, " agents did not all register within ",
                                                      absl::FormatDuration(kStartTimeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::Status LocalCluster::RestartCoordinator(bool crash) {
  if (crash) coordinator_->Signal(SIGKILL);
  coordinator_->Terminate();
  absl::StatusOr<std::string> address = StartCoordinator(coordinator_address_);
  if (!address.ok()) return address.status();
  return WaitForAgents(static_cast<int>(agents_.size()));
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(int num_agents,
                                                                  const std::string& work_dir) {
  return Start(std::vector<std::string>(num_agents, "cpu"), work_dir);
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const std::vector<std::string>& devices, const std::string& work_dir) {
  return Start(devices, work_dir, ClusterSecurity());
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const std::vector<std::string>& devices, const std::string& work_dir,
    const ClusterSecurity& security) {
  return Start(devices, work_dir, security, {});
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const std::vector<std::string>& devices, const std::string& work_dir,
    const ClusterSecurity& security, const std::vector<std::string>& coordinator_flags) {
  return Start(devices, work_dir, security, coordinator_flags, {});
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const std::vector<std::string>& devices, const std::string& work_dir,
    const ClusterSecurity& security, const std::vector<std::string>& coordinator_flags,
    const std::vector<std::string>& agent_flags) {
  const int num_agents = static_cast<int>(devices.size());
  const char* bin_dir = getenv("PARAMSYNC_BIN_DIR");
  std::unique_ptr<LocalCluster> cluster(
      new LocalCluster(work_dir, bin_dir != nullptr ? bin_dir : "", security));
  cluster->coordinator_flags_ = coordinator_flags;
  cluster->agent_flags_ = agent_flags;
  cluster->agent_devices_ = devices;
  absl::StatusOr<std::string> address = cluster->StartCoordinator("127.0.0.1:0");
  if (!address.ok()) return address.status();
  cluster->coordinator_address_ = *address;
  for (int i = 0; i < num_agents; ++i) {
    address = cluster->StartAgent(i, "127.0.0.1:0");
    if (!address.ok()) return address.status();
    cluster->agent_addresses_.push_back(*address);
  }
  absl::Status registered = cluster->WaitForAgents(num_agents);
  if (!registered.ok()) return registered;
  return cluster;
}

absl::StatusOr<std::string> LocalCluster::StartAgent(int i, const std::string& listen) {
  std::vector<std::string> argv = {Binary("agent/paramsync-agent"),
                                   absl::StrCat("--listen=", listen),
                                   absl::StrCat("--device=", agent_devices_.at(i)),
                                   absl::StrCat("--coordinator=", coordinator_address_)};
  for (std::string& flag : SecurityFlags(security_.daemons, true)) argv.push_back(std::move(flag));
  argv.insert(argv.end(), agent_flags_.begin(), agent_flags_.end());
  const std::vector<std::string>& own = own_agent_flags_[i];
  argv.insert(argv.end(), own.begin(), own.end());
  const bool restart = i < static_cast<int>(agents_.size());
  if (!restart) {
    agents_.emplace_back();
    agent_metrics_addresses_.emplace_back();
  }
  return StartDaemon(
      argv,
      restart ? absl::StrCat("agent", i, "-restart", ++agent_restarts_) : absl::StrCat("agent", i),
      &agents_[i], &agent_metrics_addresses_[i]);
}

absl::Status LocalCluster::RestartAgent(int i, bool crash) {
  client::CoordinatorClient coordinator(coordinator_address_, security_.clients);
  const std::string& address = agent_addresses_.at(i);
  auto registered_id = [&]() -> std::string {
    absl::StatusOr<v1::ListAgentsResponse> agents = coordinator.ListAgents();
    if (!agents.ok()) return "";
    for (const v1::AgentInfo& agent : agents->agents()) {
      if (agent.address() == address) return agent.agent_id();
    }
    return "";
  };
  const std::string old_id = registered_id();
  if (crash) agents_[i]->Signal(SIGKILL);
  agents_[i]->Terminate();
  absl::StatusOr<std::string> started = StartAgent(i, address);
  if (!started.ok()) return started.status();
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (true) {
    const std::string id = registered_id();
    if (!id.empty() && id != old_id) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("agent ", i, " restarted at ", address,
                                                      " did not register within ",
                                                      absl::FormatDuration(kStartTimeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void LocalCluster::AddAgentFlags(int i, const std::vector<std::string>& flags) {
  std::vector<std::string>& own = own_agent_flags_[i];
  own.insert(own.end(), flags.begin(), flags.end());
}

LocalCluster::~LocalCluster() {
  holders_.clear();
  agents_.clear();
  coordinator_.reset();
}

absl::StatusOr<std::vector<ChildProcess*>> LocalCluster::Deploy(const ModelDeployment& model) {
  const int ranks = model.tp * model.pp * (model.trainer ? model.dp : model.replicas);
  if (static_cast<int>(model.agents.size()) != ranks) {
    return absl::InvalidArgumentError(absl::StrCat("model ", model.model, " has ", ranks,
                                                   " ranks but ", model.agents.size(),
                                                   " agents are given"));
  }
  std::vector<ChildProcess*> out;
  // Started all at once, then awaited: registration is the slow part.
  for (int rank = 0; rank < ranks; ++rank) {
    if (rank == model.skip_rank) continue;
    std::vector<std::string> argv = {
        Binary("bench/tensor_holder"),
        absl::StrCat("--agent=", agent_addresses_.at(model.agents[rank])),
        absl::StrCat("--model=", model.model),
        absl::StrCat("--role=", model.trainer ? "trainer" : "inference"),
        absl::StrCat("--rank=", rank),
        absl::StrCat("--tp_size=", model.tp),
        absl::StrCat("--tp_rank=", rank % model.tp),
        absl::StrCat("--preset=", model.preset),
        absl::StrCat("--seed=", model.seed),
        absl::StrCat("--mismatch=", model.mismatch),
        absl::StrCat("--device=", agent_devices_.at(model.agents[rank]))};
    if (!model.layout_preset.empty()) {
      argv.push_back(absl::StrCat("--layout_preset=", model.layout_preset));
      argv.push_back(absl::StrCat("--model_config=", model.model_config));
    }
    if (model.trainer) {
      // Megatron's rank order: pp_rank * tp * dp + dp_rank * tp + tp_rank, with
      // the expert-parallel groups inside the data-parallel ones.
      const int dp_rank = (rank / model.tp) % model.dp;
      argv.push_back(absl::StrCat("--dp_size=", model.dp));
      argv.push_back(absl::StrCat("--dp_rank=", dp_rank));
      argv.push_back(absl::StrCat("--ep_size=", model.ep));
      argv.push_back(absl::StrCat("--ep_rank=", dp_rank % model.ep));
      argv.push_back(absl::StrCat("--pp_size=", model.pp));
      argv.push_back(absl::StrCat("--pp_rank=", rank / (model.tp * model.dp)));
    } else {
      // vLLM's order: replica * tp * pp + local rank, local rank pp_rank * tp + tp_rank.
      const int local_rank = rank % (model.tp * model.pp);
      argv.push_back(absl::StrCat("--replica=", rank / (model.tp * model.pp)));
      argv.push_back(absl::StrCat("--local_rank=", local_rank));
      argv.push_back(absl::StrCat("--pp_size=", model.pp));
      argv.push_back(absl::StrCat("--pp_rank=", local_rank / model.tp));
      argv.push_back(absl::StrCat("--expert_layout=", model.expert_layout));
    }
    for (std::string& flag : SecurityFlags(security_.clients, false)) {
      argv.push_back(std::move(flag));
    }
    absl::StatusOr<std::unique_ptr<ChildProcess>> holder = ChildProcess::Spawn(
        argv, absl::StrCat(work_dir_, "/", model.model, "-", rank, ".log"), true);
    if (!holder.ok()) return holder.status();
    out.push_back(holder->get());
    holders_.push_back(*std::move(holder));
  }
  for (ChildProcess* holder : out) {
    absl::StatusOr<std::string> line = holder->ReadLine(kStartTimeout);
    if (!line.ok()) return line.status();
    if (*line != "ready") return HolderError(*line);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> LocalCluster::CommandAll(
    const std::vector<ChildProcess*>& processes, const std::string& command) {
  for (ChildProcess* process : processes) {
    absl::Status written = process->WriteLine(command);
    if (!written.ok()) return written;
  }
  std::vector<std::string> answers;
  for (ChildProcess* process : processes) {
    absl::StatusOr<std::string> line = process->ReadLine(absl::Seconds(120));
    if (!line.ok()) return line.status();
    if (!absl::StartsWith(*line, "ok")) {
      return absl::DataLossError(
          absl::StrCat("'", command, "' on process ", process->pid(), ": ", *line));
    }
    answers.push_back(*line);
  }
  return answers;
}

}  // namespace paramsync::bench
