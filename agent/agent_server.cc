#include "agent/agent_server.h"

#include <glog/logging.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "common/grpc_channels.h"
#include "common/server_introspection.h"

namespace paramsync::agent {
namespace {

// "host:port" -> "host"; "[::1]:port" -> "[::1]".
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

absl::StatusOr<DataPlane> MakeDataPlane(const std::string& device, ChannelFactory channels,
                                        absl::Duration push_delay) {
  if (device == "cpu" || absl::StartsWith(device, "cpu:")) {
    return MakeHostDataPlane(std::move(channels), push_delay);
  }
  int ordinal = -1;
  if (absl::StartsWith(device, "cuda:") && absl::SimpleAtoi(device.substr(5), &ordinal) &&
      ordinal >= 0) {
#ifdef PARAMSYNC_WITH_CUDA
    return MakeGpuDataPlane(ordinal);
#else
    return absl::FailedPreconditionError(absl::StrCat(
        "device '", device, "' needs CUDA and NCCL, and this agent was built without them"));
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--device is '", device, "'; accepted: cpu, cpu:N, cuda:N"));
}

// INVALID_ARGUMENT unless `address` is empty or "host:port" (port 1-65535).
absl::Status CheckDataAdvertiseAddress(const std::string& address) {
  if (address.empty()) return absl::OkStatus();
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--data_advertise_address is '", address,
                                                   "'; accepted: host:port, port 1 to 65535"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(const AgentConfig& config) {
  if (config.coordinator_address.empty()) {
    return absl::InvalidArgumentError("coordinator address must be set (--coordinator)");
  }
  if (absl::Status data_address = CheckDataAdvertiseAddress(config.data_advertise_address);
      !data_address.ok()) {
    return data_address;
  }
  if (config.push_silence_timeout != absl::ZeroDuration() &&
      config.push_silence_timeout < kMinSilenceTimeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--push_silence_timeout_ms is ", absl::ToInt64Milliseconds(config.push_silence_timeout),
        "; accepted: 0 (off) or at least ", absl::ToInt64Milliseconds(kMinSilenceTimeout)));
  }
  absl::StatusOr<Credentials> credentials = LoadCredentials(config.security);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status tokens = CheckDaemonTokens(*credentials); !tokens.ok()) return tokens;
  // Commands and pushes need the daemon token, which framework processes never
  // hold (they present the shared token to AgentLocal): agents take commands
  // only from the coordinator, and data only from other agents.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials =
      MakeServerCredentials(
          *credentials, config.listen_address,
          {v1::AgentControl::service_full_name(), v1::AgentData::service_full_name()});
  if (!server_credentials.ok()) return server_credentials.status();
  // Channels to the coordinator, and to other agents (AgentData.Push), whose
  // pushes fail once their connection goes silent.
  ChannelFactory channels = [credentials = *credentials](const std::string& address) {
    return MakeChannel(address, credentials, credentials.daemon_token);
  };
  ChannelFactory push_channels = [credentials = *credentials,
                                  silence =
                                      config.push_silence_timeout](const std::string& address) {
    return MakeChannel(address, credentials, credentials.daemon_token,
                       silence == absl::ZeroDuration() ? DefaultChannelArguments()
                                                       : SilenceDetectingChannelArguments(silence));
  };

  std::unique_ptr<AgentServer> agent(new AgentServer());
  absl::StatusOr<DataPlane> data =
      MakeDataPlane(config.device, push_channels, config.debug_push_delay);
  if (!data.ok()) return data.status();
  agent->data_ = *std::move(data);
  Transport* transport = agent->data_.transport.get();
  agent->tensors_ = std::make_unique<TensorRegistry>(agent->data_.device_mapper.get());
  agent->metrics_ = std::make_unique<AgentMetrics>(&agent->metrics_registry_);
  agent->groups_ = std::make_unique<GroupTable>(transport);
  agent->groups_->set_metrics(agent->metrics_.get());
  agent->runner_ = std::make_unique<TaskRunner>(agent->tensors_.get(), agent->groups_.get(),
                                                transport, agent->data_.memory.get());
  agent->digests_ =
      std::make_unique<DigestRunner>(agent->tensors_.get(), agent->data_.memory.get());
  agent->lora_ = std::make_unique<LoraMerger>(agent->tensors_.get(), agent->data_.memory.get());
  agent->control_service_ = std::make_unique<AgentControlService>(
      agent->tensors_.get(), agent->groups_.get(), agent->runner_.get(), transport,
      agent->digests_.get(), agent->lora_.get());
  if (!config.debug_corrupt_received_tensor.empty()) {
    agent->corrupter_ = std::make_unique<ReceivedBytesCorrupter>(
        agent->tensors_.get(), agent->data_.memory.get(), config.debug_corrupt_received_tensor);
    agent->control_service_->set_corrupter_for_test(agent->corrupter_.get());
  }
  agent->runner_->set_metrics(agent->metrics_.get());
  agent->control_service_->set_metrics(agent->metrics_.get());
  agent->data_service_ = std::make_unique<AgentDataService>(agent->data_.inbox.get());

  EnableServerIntrospection();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address, *server_credentials, &port);
  ConfigureServerLimits(builder);
  AcceptKeepalivePings(builder);  // Other agents' push channels.
  builder.RegisterService(agent->control_service_.get());
  builder.RegisterService(agent->data_service_.get());
  // The local service needs the link, which needs the bound address: register a
  // holder now, fill it below, before any client can know this address.
  agent->local_service_ = std::make_unique<AgentLocalService>(agent->tensors_.get(), nullptr);
  builder.RegisterService(agent->local_service_.get());
  agent->server_ = builder.BuildAndStart();
  if (agent->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", config.listen_address));
  }
  // Ready once registered with the coordinator (the link says when).
  agent->server_->GetHealthCheckService()->SetServingStatus(false);
  absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> metrics = metrics::ServeMetrics(
      config.metrics, config.security.allow_insecure_remote, &agent->metrics_registry_);
  if (!metrics.ok()) return metrics.status();
  agent->metrics_server_ = *std::move(metrics);
  const std::string host =
      config.advertise_host.empty() ? HostOf(config.listen_address) : config.advertise_host;
  agent->address_ = absl::StrCat(host, ":", port);
  transport->set_self_address(agent->address_);
  agent->runner_->set_self_address(agent->address_);

  v1::AgentInfo self;
  self.set_host(config.node_name.empty() ? host : config.node_name);
  // Host "devices" are distinct per agent; a GPU is named by its UUID.
  self.set_device(agent->data_.device_id.empty() ? absl::StrCat(config.device, "@", agent->address_)
                                                 : agent->data_.device_id);
  self.set_address(agent->address_);
  self.set_data_address(config.data_advertise_address);
  self.set_gpu_index(agent->data_.gpu_index);
  self.set_device_kind(agent->data_.gpu_index >= 0 ? v1::DEVICE_KIND_GPU : v1::DEVICE_KIND_HOST);
  agent->link_ = std::make_unique<CoordinatorLink>(channels(config.coordinator_address), self,
                                                   agent->tensors_.get(), config.rpc_timeout);
  agent->local_service_->set_link(agent->link_.get());
  agent->control_service_->set_link(agent->link_.get());
  agent->link_->set_on_connected([health = agent->server_->GetHealthCheckService(),
                                  metrics = agent->metrics_.get()](bool connected) {
    health->SetServingStatus(connected);
    metrics->SetCoordinatorConnected(connected);
  });
  agent->link_->Start();
  LOG(INFO) << "agent serving on " << agent->address_ << " (" << DescribeSecurity(*credentials)
            << "), coordinator " << config.coordinator_address
            << (config.data_advertise_address.empty()
                    ? ""
                    : absl::StrCat(", pushes to it via ", config.data_advertise_address))
            << (agent->metrics_server_ == nullptr
                    ? ""
                    : absl::StrCat(", metrics at http://", agent->metrics_server_->address(),
                                   "/metrics"));
  return agent;
}

AgentServer::~AgentServer() {
  Shutdown();
  link_.reset();  // Its thread tells the health service, which server_ owns.
}

void AgentServer::Wait() { server_->Wait(); }

void AgentServer::Shutdown() {
  if (server_ == nullptr) return;
  data_.transport->Abort(0, absl::UnavailableError("the agent is shutting down"));
  local_service_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  // The originals of merged weights live only in this process: write them
  // back while the framework's memory is still mapped (errors are logged).
  (void)lora_->Restore(0);
}

}  // namespace paramsync::agent
