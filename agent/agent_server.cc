#include "agent/agent_server.h"

#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "common/grpc_channels.h"

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

}  // namespace

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(const AgentConfig& config) {
  if (config.coordinator_address.empty()) {
    return absl::InvalidArgumentError("coordinator address must be set (--coordinator)");
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
  // Channels to other agents (AgentData.Push) and to the coordinator.
  ChannelFactory channels = [credentials = *credentials](const std::string& address) {
    return MakeChannel(address, credentials, credentials.daemon_token);
  };

  std::unique_ptr<AgentServer> agent(new AgentServer());
  absl::StatusOr<DataPlane> data = MakeDataPlane(config.device, channels, config.debug_push_delay);
  if (!data.ok()) return data.status();
  agent->data_ = *std::move(data);
  Transport* transport = agent->data_.transport.get();
  agent->tensors_ = std::make_unique<TensorRegistry>(agent->data_.device_mapper.get());
  agent->groups_ = std::make_unique<GroupTable>(transport);
  agent->runner_ = std::make_unique<TaskRunner>(agent->tensors_.get(), agent->groups_.get(),
                                                transport, agent->data_.memory.get());
  agent->control_service_ = std::make_unique<AgentControlService>(
      agent->tensors_.get(), agent->groups_.get(), agent->runner_.get(), transport);
  agent->data_service_ = std::make_unique<AgentDataService>(agent->data_.inbox.get());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address, *server_credentials, &port);
  ConfigureServerLimits(builder);
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
  self.set_gpu_index(agent->data_.gpu_index);
  self.set_device_kind(agent->data_.gpu_index >= 0 ? v1::DEVICE_KIND_GPU : v1::DEVICE_KIND_HOST);
  agent->link_ = std::make_unique<CoordinatorLink>(channels(config.coordinator_address), self,
                                                   agent->tensors_.get(), config.rpc_timeout);
  agent->local_service_->set_link(agent->link_.get());
  agent->control_service_->set_link(agent->link_.get());
  agent->link_->Start();
  LOG(INFO) << "agent serving on " << agent->address_ << " (" << DescribeSecurity(*credentials)
            << "), coordinator " << config.coordinator_address;
  return agent;
}

AgentServer::~AgentServer() { Shutdown(); }

void AgentServer::Wait() { server_->Wait(); }

void AgentServer::Shutdown() {
  if (server_ == nullptr) return;
  data_.transport->Abort(0, absl::UnavailableError("the agent is shutting down"));
  local_service_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace paramsync::agent
