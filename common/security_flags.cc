#include "common/security_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain to serve TLS with (and to present to peers under mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle verifying peers: clients must present certificates it signed (mutual "
          "TLS), and servers this process calls are verified with it");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to verify in peers' certificates instead of the host dialed");
ABSL_FLAG(std::string, token_file, "",
          "file holding the clients' shared bearer token: calls from framework processes and "
          "tools must carry it");
ABSL_FLAG(std::string, daemon_token_file, "",
          "file holding the daemons' bearer token (required with --token_file; only the "
          "coordinator and agents hold it): calls between daemons carry it, and agents take "
          "commands and pushes, the coordinator agent registrations, only with it");
ABSL_FLAG(bool, allow_insecure_remote, false,
          "serve plaintext on a non-loopback address (refused otherwise when no --tls_cert)");

namespace paramsync {

SecurityConfig SecurityConfigFromFlags() {
  SecurityConfig config;
  config.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key = absl::GetFlag(FLAGS_tls_key);
  config.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  config.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  config.token_file = absl::GetFlag(FLAGS_token_file);
  config.daemon_token_file = absl::GetFlag(FLAGS_daemon_token_file);
  config.allow_insecure_remote = absl::GetFlag(FLAGS_allow_insecure_remote);
  return config;
}

}  // namespace paramsync
