#include "agent/agent_server.h"

#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_channels.h"

namespace paramsync::agent {
namespace {

// "host:port" -> "host"; "[::1]:port" -> "[::1]".
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(const AgentConfig& config) {
  if (config.coordinator_address.empty()) {
    return absl::InvalidArgumentError("coordinator address must be set (--coordinator)");
  }
  if (config.device != "cpu" && !absl::StartsWith(config.device, "cpu:")) {
    return absl::UnimplementedError(
        absl::StrCat("device '", config.device,
                     "' needs the NCCL transport, which this build does not "
                     "enable yet; accepted: cpu, cpu:N"));
  }
  std::unique_ptr<AgentServer> agent(new AgentServer());
  agent->transport_ = std::make_unique<HostTransport>(&agent->inbox_, &MakeAgentChannel);
  agent->groups_ = std::make_unique<GroupTable>(agent->transport_.get());
  agent->runner_ = std::make_unique<TaskRunner>(&agent->tensors_, agent->groups_.get(),
                                                agent->transport_.get(), &agent->memory_);
  agent->control_service_ = std::make_unique<AgentControlService>(
      &agent->tensors_, agent->groups_.get(), agent->runner_.get(), agent->transport_.get());
  agent->data_service_ = std::make_unique<AgentDataService>(&agent->inbox_);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address, grpc::InsecureServerCredentials(), &port);
  ConfigureServerLimits(builder);
  builder.RegisterService(agent->control_service_.get());
  builder.RegisterService(agent->data_service_.get());
  // The local service needs the link, which needs the bound address: register a
  // holder now, fill it below, before any client can know this address.
  agent->local_service_ = std::make_unique<AgentLocalService>(&agent->tensors_, nullptr);
  builder.RegisterService(agent->local_service_.get());
  agent->server_ = builder.BuildAndStart();
  if (agent->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", config.listen_address));
  }
  const std::string host =
      config.advertise_host.empty() ? HostOf(config.listen_address) : config.advertise_host;
  agent->address_ = absl::StrCat(host, ":", port);
  agent->transport_->set_self_address(agent->address_);
  agent->runner_->set_self_address(agent->address_);

  v1::AgentInfo self;
  self.set_host(config.node_name.empty() ? host : config.node_name);
  self.set_device(absl::StrCat(config.device, "@", agent->address_));
  self.set_address(agent->address_);
  self.set_gpu_index(-1);
  agent->link_ = std::make_unique<CoordinatorLink>(MakeAgentChannel(config.coordinator_address),
                                                   self, &agent->tensors_, config.rpc_timeout);
  agent->local_service_->set_link(agent->link_.get());
  agent->link_->Start();
  LOG(INFO) << "agent serving on " << agent->address_ << ", coordinator "
            << config.coordinator_address;
  return agent;
}

AgentServer::~AgentServer() { Shutdown(); }

void AgentServer::Wait() { server_->Wait(); }

void AgentServer::Shutdown() {
  if (server_ == nullptr) return;
  transport_->Abort(0, absl::UnavailableError("the agent is shutting down"));
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace paramsync::agent
