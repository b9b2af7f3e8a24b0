#include "common/credentials.h"

#include <arpa/inet.h>
#include <grpc/grpc_security.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/support/client_interceptor.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/grpc_channels.h"

namespace paramsync {
namespace {

constexpr char kAuthorization[] = "authorization";

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", what, " file ", path, ": ", std::strerror(errno)));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", what, " file ", path));
  }
  return contents.str();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  if (path.empty()) return std::string();
  absl::StatusOr<std::string> pem = ReadFile(path, what);
  if (pem.ok() && !absl::StrContains(*pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(what, " file ", path, " is not PEM"));
  }
  return pem;
}

// A token is one line of visible ASCII (what an HTTP/2 header value may hold);
// surrounding whitespace (a trailing newline) is dropped.
absl::StatusOr<std::string> ReadToken(const std::string& path, absl::string_view what) {
  if (path.empty()) return std::string();
  absl::StatusOr<std::string> contents = ReadFile(path, what);
  if (!contents.ok()) return contents.status();
  const std::string token(absl::StripAsciiWhitespace(*contents));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " file ", path, " is empty"));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " file ", path, " must hold one line of printable ASCII without spaces"));
    }
  }
  return token;
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// "host:port" -> "host"; "[::1]:port" -> "::1"; a bare host stays whole.
absl::string_view HostOf(absl::string_view address) {
  if (absl::ConsumePrefix(&address, "[")) return address.substr(0, address.find(']'));
  const size_t colon = address.find(':');
  if (colon == absl::string_view::npos || address.find(':', colon + 1) != absl::string_view::npos) {
    return address;  // No port, or a bare IPv6 address.
  }
  return address.substr(0, colon);
}

// ---- Servers ----------------------------------------------------------------

// Checks a call's token where gRPC authenticates calls, before any handler (or
// the health service) runs.
class TokenProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenProcessor(TokenPolicy policy) : policy_(std::move(policy)) {}

  bool IsBlocking() const override { return false; }  // Cheap: runs inline.

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata* consumed,
                       OutputMetadata*) override {
    absl::string_view method;
    std::vector<absl::string_view> authorization;
    for (const auto& [key, value] : metadata) {
      const absl::string_view k(key.data(), key.size());
      const absl::string_view v(value.data(), value.size());
      if (k == ":path") method = v;
      if (k == kAuthorization) authorization.push_back(v);
    }
    grpc::Status status = CheckCallToken(policy_, method, authorization);
    // Handlers never see the token.
    if (status.ok()) {
      for (absl::string_view value : authorization) {
        consumed->emplace(kAuthorization, std::string(value));
      }
    }
    return status;
  }

 private:
  const TokenPolicy policy_;
};

// The same check for plaintext servers. grpc++'s InsecureServerCredentials
// cannot carry an AuthMetadataProcessor, but gRPC core's insecure server
// credentials can: this wraps them (and the core processor) in grpc++'s
// ServerCredentials interface.
class PlaintextServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit PlaintextServerCredentials(TokenPolicy policy)
      : creds_(grpc_insecure_server_credentials_create()) {
    // The server keeps the core credentials (and so the processor's state)
    // after this object is gone: the state is the processor's own.
    grpc_server_credentials_set_auth_metadata_processor(
        creds_, {&Process, &Destroy, new TokenPolicy(std::move(policy))});
  }
  ~PlaintextServerCredentials() override { grpc_server_credentials_release(creds_); }

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    std::abort();  // Not used: the token processor is set at construction.
  }

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    return grpc_server_add_http2_port(server, address.c_str(), creds_);
  }

  static void Destroy(void* state) { delete static_cast<TokenPolicy*>(state); }

  static void Process(void* state, grpc_auth_context*, const grpc_metadata* metadata, size_t count,
                      grpc_process_auth_metadata_done_cb done, void* user_data) {
    const auto* policy = static_cast<const TokenPolicy*>(state);
    auto view = [](const grpc_slice& slice) {
      return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                               GRPC_SLICE_LENGTH(slice));
    };
    absl::string_view method;
    std::vector<absl::string_view> authorization;
    std::vector<grpc_metadata> consumed;
    for (size_t i = 0; i < count; ++i) {
      const absl::string_view key = view(metadata[i].key);
      if (key == ":path") method = view(metadata[i].value);
      if (key == kAuthorization) {
        authorization.push_back(view(metadata[i].value));
        consumed.push_back(metadata[i]);
      }
    }
    const grpc::Status status = CheckCallToken(*policy, method, authorization);
    if (status.ok()) {
      done(user_data, consumed.data(), consumed.size(), nullptr, 0, GRPC_STATUS_OK, nullptr);
    } else {
      done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.error_code()),
           status.error_message().c_str());
    }
  }

  grpc_server_credentials* const creds_;
};

// ---- Clients ----------------------------------------------------------------

class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(std::shared_ptr<const std::string> header)
      : header_(std::move(header)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kAuthorization, *header_);
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<const std::string> header_;
};

class TokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : header_(std::make_shared<const std::string>(absl::StrCat("Bearer ", token))) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(header_);
  }

 private:
  const std::shared_ptr<const std::string> header_;
};

}  // namespace

SecurityConfig SecurityConfig::FromEnvironment() {
  SecurityConfig config;
  config.tls_ca = Getenv("PARAMSYNC_TLS_CA");
  config.tls_cert = Getenv("PARAMSYNC_TLS_CERT");
  config.tls_key = Getenv("PARAMSYNC_TLS_KEY");
  config.tls_server_name = Getenv("PARAMSYNC_TLS_SERVER_NAME");
  config.token_file = Getenv("PARAMSYNC_TOKEN_FILE");
  return config;
}

absl::StatusOr<Credentials> LoadCredentials(const SecurityConfig& config) {
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "a TLS certificate and its private key go together (--tls_cert and --tls_key)");
  }
  Credentials credentials;
  absl::StatusOr<std::string> cert = ReadPem(config.tls_cert, "TLS certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(config.tls_key, "TLS private key");
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca = ReadPem(config.tls_ca, "TLS CA");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> token = ReadToken(config.token_file, "token");
  if (!token.ok()) return token.status();
  absl::StatusOr<std::string> daemon_token = ReadToken(config.daemon_token_file, "daemon token");
  if (!daemon_token.ok()) return daemon_token.status();
  if (!token->empty() && *token == *daemon_token) {
    return absl::InvalidArgumentError(
        "the daemon token must differ from the shared token: daemons tell each other from "
        "clients by it");
  }
  credentials.cert_pem = *std::move(cert);
  credentials.key_pem = *std::move(key);
  credentials.ca_pem = *std::move(ca);
  credentials.server_name = config.tls_server_name;
  credentials.token = *std::move(token);
  credentials.daemon_token = *std::move(daemon_token);
  credentials.allow_insecure_remote = config.allow_insecure_remote;
  return credentials;
}

absl::Status CheckDaemonTokens(const Credentials& credentials) {
  if (credentials.token.empty() != credentials.daemon_token.empty()) {
    return absl::InvalidArgumentError(
        "--token_file and --daemon_token_file go together: calls between the coordinator and "
        "agents carry the daemon token, calls from clients the shared token");
  }
  return absl::OkStatus();
}

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  const std::string host(HostOf(address));
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8.
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // Wildcards (0.0.0.0, [::]), other addresses and host names.
}

bool ConstantTimeEquals(absl::string_view actual, absl::string_view expected) {
  volatile unsigned char differ = actual.size() != expected.size() ? 1 : 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char a = i < actual.size() ? static_cast<unsigned char>(actual[i]) : 0;
    differ = differ | (a ^ static_cast<unsigned char>(expected[i]));
  }
  return differ == 0;
}

grpc::Status CheckCallToken(const TokenPolicy& policy, absl::string_view method,
                            const std::vector<absl::string_view>& authorization) {
  if (policy.token.empty() && policy.daemon_token.empty()) return grpc::Status::OK;
  bool daemon_only = false;
  for (const std::string& name : policy.daemon_only) {
    absl::string_view rest = method;
    // A service ("/name/Method") or a method ("/name" exactly).
    if (absl::ConsumePrefix(&rest, "/") && absl::ConsumePrefix(&rest, name) &&
        (rest.empty() || absl::StartsWith(rest, "/"))) {
      daemon_only = true;
    }
  }
  if (authorization.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing 'authorization: Bearer <token>' metadata: this server requires "
                        "a bearer token (--token_file, PARAMSYNC_TOKEN_FILE)");
  }
  if (authorization.size() > 1) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "more than one 'authorization' metadata entry");
  }
  absl::string_view token = authorization[0];
  // The scheme is case-insensitive (RFC 7235).
  if (token.size() < 7 || !absl::EqualsIgnoreCase(token.substr(0, 7), "Bearer ")) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "'authorization' metadata is not 'Bearer <token>'");
  }
  token.remove_prefix(7);
  // Both comparisons always run: the time taken does not tell which matched.
  const bool is_daemon =
      !policy.daemon_token.empty() && ConstantTimeEquals(token, policy.daemon_token);
  const bool is_shared = !policy.token.empty() && ConstantTimeEquals(token, policy.token);
  if (daemon_only) {
    if (is_daemon) return grpc::Status::OK;
    if (is_shared) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("only the coordinator and agents may call ", method,
                                       ": a client's token is not the daemon token"));
    }
  } else if (is_shared) {
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
}

std::string DescribeSecurity(const Credentials& credentials) {
  return absl::StrCat(
      credentials.tls_server() ? (credentials.ca_pem.empty() ? "TLS" : "mutual TLS") : "plaintext",
      credentials.token.empty() ? ", no tokens" : ", bearer tokens");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const Credentials& credentials, const std::string& listen_address,
    const std::vector<std::string>& daemon_only) {
  TokenPolicy policy{credentials.token, credentials.daemon_token, daemon_only};
  const bool check_tokens = !policy.token.empty() || !policy.daemon_token.empty();
  if (!credentials.tls_server()) {
    if (!credentials.ca_pem.empty()) {
      return absl::InvalidArgumentError(
          "a TLS CA (--tls_ca) on a server needs its certificate and key (--tls_cert, --tls_key)");
    }
    if (!credentials.allow_insecure_remote && !IsLoopbackAddress(listen_address)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to serve plaintext gRPC on ", listen_address,
          ", which is not a loopback address: give --tls_cert and --tls_key (and --tls_ca for "
          "mutual TLS), or --allow_insecure_remote to accept plaintext from the network"));
    }
    if (!check_tokens) return grpc::InsecureServerCredentials();
    return std::shared_ptr<grpc::ServerCredentials>(
        std::make_shared<PlaintextServerCredentials>(std::move(policy)));
  }
  grpc::SslServerCredentialsOptions options(
      credentials.ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = credentials.ca_pem;
  options.pem_key_cert_pairs.push_back({credentials.key_pem, credentials.cert_pem});
  std::shared_ptr<grpc::ServerCredentials> server = grpc::SslServerCredentials(options);
  if (check_tokens) server->SetAuthMetadataProcessor(std::make_shared<TokenProcessor>(policy));
  return server;
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const Credentials& credentials) {
  if (!credentials.tls_client()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = credentials.ca_pem;  // Empty: the system's roots.
  options.pem_private_key = credentials.key_pem;
  options.pem_cert_chain = credentials.cert_pem;
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const Credentials& credentials,
                                           const std::string& token) {
  return MakeChannel(address, credentials, token, DefaultChannelArguments());
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const Credentials& credentials, const std::string& token,
                                           grpc::ChannelArguments args) {
  if (credentials.tls_client() && !credentials.server_name.empty()) {
    args.SetSslTargetNameOverride(credentials.server_name);
  }
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!token.empty()) interceptors.push_back(std::make_unique<TokenInterceptorFactory>(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, MakeChannelCredentials(credentials), args, std::move(interceptors));
}

}  // namespace paramsync
