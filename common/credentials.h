// File: common/credentials.h
// -----------------------------------------------------------------------------
// Transport security and call authentication of every paramsync channel and
// server, in one place:
//   - TLS: a server with a certificate serves TLS; with a CA as well it requires
//     and verifies client certificates (mutual TLS). A client with a CA (or a
//     certificate) dials TLS, verifying the server against that CA and
//     presenting its own certificate when it has one.
//   - Bearer tokens: a client sends `authorization: Bearer <token>` on every
//     call; a server configured with a token rejects calls without it
//     (UNAUTHENTICATED), comparing in constant time.
//   - Two tokens: a shared token for clients (framework processes, tools)
//     and a daemon token that only the coordinator and the agents hold. Calls
//     between daemons need the daemon token: commands to agents
//     (AgentControl), agent-to-agent pushes (AgentData), and the agents' own
//     calls to the coordinator (RegisterAgent, Heartbeat, RegisterEndpoint,
//     ReportError). So agents accept commands only from the coordinator (or a
//     peer daemon, equally trusted), and a client's token cannot command
//     agents, inject pushes, or register a fake agent to collect the daemon
//     token; this holds with or without mutual TLS.
//   - Plaintext is served only on loopback addresses unless
//     allow_insecure_remote says otherwise.
#ifndef PARAMSYNC_COMMON_CREDENTIALS_H_
#define PARAMSYNC_COMMON_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace paramsync {

// Where a process finds its TLS material and tokens: file paths, as flags and
// environment variables give them (a token in a file is not visible in `ps`).
// Every field is optional; an empty config is plaintext without tokens.
struct SecurityConfig {
  std::string tls_cert;  // PEM certificate chain this process presents.
  std::string tls_key;   // PEM private key of tls_cert.
  // PEM CA bundle verifying peers: servers require client certificates signed
  // by it (mTLS); clients verify servers with it.
  std::string tls_ca;
  // Clients: the name server certificates must carry, instead of the dialed host.
  std::string tls_server_name;
  std::string token_file;         // The shared bearer token of clients.
  std::string daemon_token_file;  // Daemons: the token calls between daemons carry.
  // Servers: serve plaintext on non-loopback addresses too.
  bool allow_insecure_remote = false;

  // The client library's settings: PARAMSYNC_TLS_CA, PARAMSYNC_TLS_CERT,
  // PARAMSYNC_TLS_KEY, PARAMSYNC_TLS_SERVER_NAME, PARAMSYNC_TOKEN_FILE.
  static SecurityConfig FromEnvironment();
};

// The contents of a SecurityConfig's files.
struct Credentials {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
  std::string server_name;
  std::string token;
  std::string daemon_token;
  bool allow_insecure_remote = false;

  bool tls_server() const { return !cert_pem.empty(); }
  bool tls_client() const { return !ca_pem.empty() || !cert_pem.empty(); }
};

// Reads the files of `config`. FAILED_PRECONDITION naming the path for a file
// that cannot be read; INVALID_ARGUMENT for a file that is not PEM, an empty or
// malformed token, a certificate without its key (or the reverse), or a
// daemon token equal to the shared token.
absl::StatusOr<Credentials> LoadCredentials(const SecurityConfig& config);

// Daemons: the shared and the daemon tokens come together (one without the
// other would leave daemon-only calls open or lock clients out).
absl::Status CheckDaemonTokens(const Credentials& credentials);

// What a server with `credentials` checks, for its start-up log line: e.g.
// "mutual TLS, bearer tokens" or "plaintext, no tokens".
std::string DescribeSecurity(const Credentials& credentials);

// Server credentials for listening on `listen_address`: TLS (mutual with a CA)
// when `credentials` has a certificate, else plaintext, which is refused
// (FAILED_PRECONDITION) on a non-loopback address unless allow_insecure_remote.
// With tokens, every call must carry the shared token, except calls to
// `daemon_only` (a service, "paramsync.v1.AgentControl", or one method,
// "paramsync.v1.Coordinator/Heartbeat"), which must carry the daemon token
// (the shared token gets PERMISSION_DENIED).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const Credentials& credentials, const std::string& listen_address,
    const std::vector<std::string>& daemon_only = {});

// Channel credentials: TLS when `credentials` has a CA or a certificate.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const Credentials& credentials);

// A channel to `address` (host:port) with paramsync's limits that presents
// `token` on every call (none when empty).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const Credentials& credentials,
                                           const std::string& token);
// Same, with `args` (built on DefaultChannelArguments()) instead of the defaults.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const Credentials& credentials, const std::string& token,
                                           grpc::ChannelArguments args);

// Whether a server listening on `address` ("host:port", "[v6]:port",
// "unix:path") is reachable only from this host.
bool IsLoopbackAddress(absl::string_view address);

// Equality whose time depends only on the length of `expected`.
bool ConstantTimeEquals(absl::string_view actual, absl::string_view expected);

// The decision a server makes on a call to `method` ("/package.Service/Method")
// carrying `authorization` (every value of that metadata key). Exposed for
// tests.
struct TokenPolicy {
  std::string token;                     // Empty: calls are not checked.
  std::string daemon_token;              // Required by the calls of daemon_only.
  std::vector<std::string> daemon_only;  // "package.Service" or "package.Service/Method".
};
grpc::Status CheckCallToken(const TokenPolicy& policy, absl::string_view method,
                            const std::vector<absl::string_view>& authorization);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_CREDENTIALS_H_
