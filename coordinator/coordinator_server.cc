#include "coordinator/coordinator_server.h"

#include <glog/logging.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_channels.h"

namespace paramsync::coordinator {

CoordinatorServer::CoordinatorServer(const CoordinatorConfig& config)
    : endpoints_(&agents_),
      executor_(&agent_clients_),
      syncs_(&agents_, &endpoints_, &executor_, &errors_),
      service_(&agents_, &endpoints_, &syncs_, &errors_, config.heartbeat_interval) {}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const CoordinatorConfig& config) {
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer(config));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address, grpc::InsecureServerCredentials(), &port);
  ConfigureServerLimits(builder);
  builder.RegisterService(&server->service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", config.listen_address));
  }
  const size_t colon = config.listen_address.rfind(':');
  server->address_ = absl::StrCat(config.listen_address.substr(0, colon), ":", port);
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  LOG(INFO) << "coordinator serving on " << server->address_;
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Shutdown() {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  executor_.Shutdown();
  errors_.Close();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_.reset();
}

}  // namespace paramsync::coordinator
