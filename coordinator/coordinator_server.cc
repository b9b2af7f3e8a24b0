#include "coordinator/coordinator_server.h"

#include <glog/logging.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "common/grpc_channels.h"
#include "common/server_introspection.h"

namespace paramsync::coordinator {

CoordinatorServer::CoordinatorServer(const CoordinatorConfig& config,
                                     const Credentials& credentials,
                                     std::unique_ptr<StateFile> state)
    : agents_(config.agent_lease),
      endpoints_(&agents_),
      metrics_(&metrics_registry_, &agents_, &endpoints_),
      errors_([this](const v1::ErrorEvent& event) { metrics_.RecordError(event); }),
      state_(std::move(state)),
      agent_clients_(AgentClientPool::GrpcClients([credentials](const std::string& address) {
        return MakeChannel(address, credentials, credentials.daemon_token);
      })),
      executor_(&agent_clients_, &agents_),
      syncs_(&agents_, &endpoints_, &executor_, &errors_, state_.get(), &metrics_),
      service_(&agents_, &endpoints_, &syncs_, &errors_, config.heartbeat_interval) {}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const CoordinatorConfig& config) {
  absl::StatusOr<Credentials> credentials = LoadCredentials(config.security);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status tokens = CheckDaemonTokens(*credentials); !tokens.ok()) return tokens;
  // What only agents call needs the daemon token: a client's token cannot
  // register a fake agent (to which syncs would send the daemon token and data).
  const std::string service = v1::Coordinator::service_full_name();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials =
      MakeServerCredentials(*credentials, config.listen_address,
                            {service + "/RegisterAgent", service + "/Heartbeat",
                             service + "/RegisterEndpoint", service + "/ReportError"});
  if (!server_credentials.ok()) return server_credentials.status();
  std::unique_ptr<StateFile> state;
  if (!config.state_file.empty()) {
    absl::StatusOr<std::unique_ptr<StateFile>> opened =
        StateFile::Open(config.state_file, SyncManager::kHistoryLimit);
    if (!opened.ok()) return opened.status();
    state = *std::move(opened);
  }
  std::unique_ptr<CoordinatorServer> server(
      new CoordinatorServer(config, *credentials, std::move(state)));
  if (absl::Status restored = server->syncs_.Restore(); !restored.ok()) return restored;
  EnableServerIntrospection();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address, *server_credentials, &port);
  ConfigureServerLimits(builder);
  builder.RegisterService(&server->service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", config.listen_address));
  }
  const size_t colon = config.listen_address.rfind(':');
  server->address_ = absl::StrCat(config.listen_address.substr(0, colon), ":", port);
  absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> metrics = metrics::ServeMetrics(
      config.metrics, config.security.allow_insecure_remote, &server->metrics_registry_);
  if (!metrics.ok()) return metrics.status();
  server->metrics_server_ = *std::move(metrics);
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  // Expired agents are dead or stuck: say so on the error channel, sync or not.
  ErrorChannel* errors = &server->errors_;
  server->agents_.StartExpiring(
      [errors](const v1::AgentInfo& agent, absl::Duration silent) {
        errors->Publish(
            absl::UnavailableError(absl::StrCat(
                "agent ", agent.agent_id(), " at ", agent.address(), " sent no heartbeat for ",
                absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
                ": expired as dead or stuck until it registers again")),
            agent.agent_id(), "", 0);
      },
      std::clamp(config.agent_lease / 10, absl::Milliseconds(10), absl::Milliseconds(250)));
  LOG(INFO) << "coordinator serving on " << server->address_ << " ("
            << DescribeSecurity(*credentials) << ")"
            << (server->metrics_server_ == nullptr
                    ? ""
                    : absl::StrCat(", metrics at http://", server->metrics_server_->address(),
                                   "/metrics"));
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Shutdown() {
  agents_.StopExpiring();  // Its callback publishes on errors_.
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  executor_.Shutdown();
  errors_.Close();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_.reset();
}

}  // namespace paramsync::coordinator
