#include "common/health_listener.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace paramsync {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Check only (what probes call); Watch is left unimplemented. A callback
// service, because gRPC's default health service is synchronous and a server
// with no other synchronous service would have nothing polling for it.
class HealthListener::Service final : public grpc::health::v1::Health::CallbackService {
 public:
  void SetServing(bool serving) { serving_.store(serving); }

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (!request->service().empty()) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::NOT_FOUND,
                       absl::StrCat("unknown service \"", request->service(),
                                    "\": this port reports the daemon as a whole (service \"\")")));
      return reactor;
    }
    response->set_status(serving_.load() ? HealthCheckResponse::SERVING
                                         : HealthCheckResponse::NOT_SERVING);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::atomic<bool> serving_{true};
};

absl::StatusOr<std::unique_ptr<HealthListener>> HealthListener::Start(const std::string& address) {
  std::unique_ptr<HealthListener> listener(new HealthListener());
  listener->service_ = std::make_unique<Service>();
  grpc::ServerBuilder builder;
  int port = 0;
  // Plaintext on purpose (see the header): the only service here is health.
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  // A port another process holds is an error, not a port to share: with
  // SO_REUSEPORT (gRPC's default) the kernel would split probes between both.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(listener->service_.get());
  // Not gRPC's default health service as well (the daemons turn it on for
  // every server of the process): it would register the same methods twice.
  builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  listener->server_ = builder.BuildAndStart();
  if (listener->server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", address, " (--health_listen)"));
  }
  listener->address_ = absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
  return listener;
}

HealthListener::~HealthListener() { Shutdown(); }

void HealthListener::Shutdown() {
  if (server_ == nullptr) return;
  service_->SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_.reset();
}

}  // namespace paramsync
