#include "client/client_security.h"

#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace paramsync::client {
namespace {

struct ProcessCredentials {
  absl::Mutex mu;
  // Empty until first use or SetClientSecurity.
  std::optional<absl::StatusOr<std::shared_ptr<const Credentials>>> credentials ABSL_GUARDED_BY(mu);
};

ProcessCredentials& Process() {
  static ProcessCredentials* process = new ProcessCredentials();  // Never destroyed.
  return *process;
}

absl::StatusOr<std::shared_ptr<const Credentials>> Load(const SecurityConfig& config) {
  absl::StatusOr<Credentials> credentials = LoadCredentials(config);
  if (!credentials.ok()) return credentials.status();
  return std::make_shared<const Credentials>(*std::move(credentials));
}

}  // namespace

absl::Status SetClientSecurity(const SecurityConfig& config) {
  absl::StatusOr<std::shared_ptr<const Credentials>> loaded = Load(config);
  if (!loaded.ok()) return loaded.status();
  ProcessCredentials& process = Process();
  absl::MutexLock lock(&process.mu);
  process.credentials = std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Credentials>> ClientCredentials() {
  ProcessCredentials& process = Process();
  absl::MutexLock lock(&process.mu);
  if (!process.credentials.has_value()) {
    process.credentials = Load(SecurityConfig::FromEnvironment());
  }
  return *process.credentials;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ClientChannel(const std::string& address) {
  absl::StatusOr<std::shared_ptr<const Credentials>> credentials = ClientCredentials();
  if (!credentials.ok()) return credentials.status();
  return MakeChannel(address, **credentials, (*credentials)->token);
}

}  // namespace paramsync::client
