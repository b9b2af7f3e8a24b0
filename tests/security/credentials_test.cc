// The pieces of common/credentials: loading TLS material and tokens, the
// loopback rule, the token check servers run on every call.
#include "common/credentials.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace paramsync {
namespace {

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/credentials-XXXXXX");
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

std::string WriteFile(const std::string& dir, const std::string& name,
                      const std::string& contents) {
  const std::string path = absl::StrCat(dir, "/", name);
  std::ofstream(path) << contents;
  return path;
}

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

TEST_CASE("Loopback addresses are told from the rest", "[credentials]") {
  for (const char* address :
       {"127.0.0.1:0", "127.0.0.1:50051", "127.1.2.3:7", "[::1]:50051", "localhost:50051",
        "LOCALHOST:1", "[::ffff:127.0.0.1]:9", "unix:/tmp/paramsync.sock"}) {
    INFO(address);
    CHECK(IsLoopbackAddress(address));
  }
  for (const char* address : {"0.0.0.0:50051", "[::]:50051", "10.0.0.5:50051", "[2001:db8::1]:1",
                              "coordinator.internal:50051", "128.0.0.1:1", ":50051"}) {
    INFO(address);
    CHECK_FALSE(IsLoopbackAddress(address));
  }
}

TEST_CASE("Tokens compare equal only when identical", "[credentials]") {
  CHECK(ConstantTimeEquals("secret-token", "secret-token"));
  CHECK_FALSE(ConstantTimeEquals("secret-tokeN", "secret-token"));
  CHECK_FALSE(ConstantTimeEquals("secret-token-and-more", "secret-token"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secret-token"));
  CHECK_FALSE(ConstantTimeEquals("", "secret-token"));
  CHECK(ConstantTimeEquals("", ""));
}

TEST_CASE("Servers check every call's bearer token", "[credentials]") {
  const TokenPolicy agent{"shared-token",
                          "daemon-token",
                          {"paramsync.v1.AgentControl", "paramsync.v1.Coordinator/Heartbeat"}};
  const std::string local = "/paramsync.v1.AgentLocal/GetVersion";
  const std::string control = "/paramsync.v1.AgentControl/RunTasks";

  SECTION("no token configured: everything passes") {
    CHECK(CheckCallToken(TokenPolicy{}, local, {}).ok());
  }
  SECTION("missing") {
    grpc::Status status = CheckCallToken(agent, local, {});
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(Contains(status.error_message(), "missing 'authorization: Bearer <token>'"));
  }
  SECTION("not a bearer token") {
    grpc::Status status = CheckCallToken(agent, local, {"Basic c2hhcmVkLXRva2Vu"});
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(Contains(status.error_message(), "not 'Bearer <token>'"));
  }
  SECTION("wrong token; the expected one is never echoed") {
    grpc::Status status = CheckCallToken(agent, local, {"Bearer shared-tokem"});
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(status.error_message() == "invalid bearer token");
  }
  SECTION("two authorization entries") {
    grpc::Status status =
        CheckCallToken(agent, local, {"Bearer shared-token", "Bearer shared-token"});
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  SECTION("right token, any case of the scheme") {
    CHECK(CheckCallToken(agent, local, {"Bearer shared-token"}).ok());
    CHECK(CheckCallToken(agent, local, {"bearer shared-token"}).ok());
  }
  SECTION("the daemon token is not a shared token") {
    CHECK(CheckCallToken(agent, local, {"Bearer daemon-token"}).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
  }
  SECTION("AgentControl takes only the daemon token") {
    CHECK(CheckCallToken(agent, control, {"Bearer daemon-token"}).ok());
    grpc::Status shared = CheckCallToken(agent, control, {"Bearer shared-token"});
    CHECK(shared.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(Contains(shared.error_message(), "only the coordinator and agents may call " + control));
    CHECK(CheckCallToken(agent, control, {}).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(CheckCallToken(agent, control, {"Bearer nope"}).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
  }
  SECTION("a daemon-only method takes only the daemon token") {
    const std::string heartbeat = "/paramsync.v1.Coordinator/Heartbeat";
    CHECK(CheckCallToken(agent, heartbeat, {"Bearer daemon-token"}).ok());
    CHECK(CheckCallToken(agent, heartbeat, {"Bearer shared-token"}).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    // Other methods of that service take the shared token.
    CHECK(CheckCallToken(agent, "/paramsync.v1.Coordinator/ListAgents", {"Bearer shared-token"})
              .ok());
  }
  SECTION("names are matched whole") {
    CHECK(CheckCallToken(agent, "/paramsync.v1.AgentControlX/Y", {"Bearer shared-token"}).ok());
    CHECK(CheckCallToken(agent, "/paramsync.v1.Coordinator/HeartbeatX", {"Bearer shared-token"})
              .ok());
  }
}

TEST_CASE("Credentials load from files and name the file that fails", "[credentials]") {
  const std::string dir = TempDir();
  const std::string pem = WriteFile(dir, "cert.pem", kPem);
  const std::string token = WriteFile(dir, "token", "shared-token\n");
  const std::string other = WriteFile(dir, "daemon-token", "daemon-token");

  SECTION("everything readable") {
    SecurityConfig config;
    config.tls_cert = pem;
    config.tls_key = pem;
    config.tls_ca = pem;
    config.token_file = token;
    config.daemon_token_file = other;
    absl::StatusOr<Credentials> credentials = LoadCredentials(config);
    INFO(credentials.status().ToString());
    REQUIRE(credentials.ok());
    CHECK(credentials->token == "shared-token");  // The newline is not part of it.
    CHECK(credentials->daemon_token == "daemon-token");
    CHECK(credentials->tls_server());
    CHECK(credentials->tls_client());
    CHECK(DescribeSecurity(*credentials) == "mutual TLS, bearer tokens");
    CHECK(CheckDaemonTokens(*credentials).ok());
  }
  SECTION("nothing configured: plaintext without tokens") {
    absl::StatusOr<Credentials> credentials = LoadCredentials(SecurityConfig());
    REQUIRE(credentials.ok());
    CHECK_FALSE(credentials->tls_client());
    CHECK(DescribeSecurity(*credentials) == "plaintext, no tokens");
  }
  SECTION("a missing file") {
    SecurityConfig config;
    config.tls_ca = dir + "/no-such-ca.pem";
    absl::Status status = LoadCredentials(config).status();
    CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(Contains(status.message(), dir + "/no-such-ca.pem"));
  }
  SECTION("an unreadable token file") {
    SecurityConfig config;
    config.token_file = WriteFile(dir, "locked", "secret");
    chmod(config.token_file.c_str(), 0);
    if (std::ifstream(config.token_file).good()) return;  // Running as root: nothing to test.
    absl::Status status = LoadCredentials(config).status();
    CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(Contains(status.message(), config.token_file));
  }
  SECTION("a file that is not PEM") {
    SecurityConfig config;
    config.tls_ca = token;
    absl::Status status = LoadCredentials(config).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(status.message(), token));
    CHECK_FALSE(Contains(status.message(), "shared-token\n"));
  }
  SECTION("empty and malformed tokens") {
    SecurityConfig config;
    config.token_file = WriteFile(dir, "empty", " \n");
    CHECK(LoadCredentials(config).status().code() == absl::StatusCode::kInvalidArgument);
    config.token_file = WriteFile(dir, "spaces", "two words");
    absl::Status status = LoadCredentials(config).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(Contains(status.message(), "two words"));
  }
  SECTION("a certificate without its key") {
    SecurityConfig config;
    config.tls_cert = pem;
    CHECK(LoadCredentials(config).status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("the daemon token must differ from the shared one") {
    SecurityConfig config;
    config.token_file = token;
    config.daemon_token_file = WriteFile(dir, "same", "shared-token");
    absl::Status status = LoadCredentials(config).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(status.message(), "must differ"));
  }
  SECTION("daemons take both tokens or neither") {
    SecurityConfig config;
    config.token_file = token;
    absl::StatusOr<Credentials> credentials = LoadCredentials(config);
    REQUIRE(credentials.ok());
    absl::Status status = CheckDaemonTokens(*credentials);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(status.message(), "--daemon_token_file"));
  }
}

TEST_CASE("Plaintext is served only on loopback unless allowed", "[credentials]") {
  Credentials plaintext;
  CHECK(MakeServerCredentials(plaintext, "127.0.0.1:0").ok());
  CHECK(MakeServerCredentials(plaintext, "[::1]:0").ok());
  absl::Status refused = MakeServerCredentials(plaintext, "0.0.0.0:50051").status();
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Contains(refused.message(), "refusing to serve plaintext gRPC on 0.0.0.0:50051"));
  CHECK(Contains(refused.message(), "--allow_insecure_remote"));
  plaintext.allow_insecure_remote = true;
  CHECK(MakeServerCredentials(plaintext, "0.0.0.0:50051").ok());

  Credentials ca_only;
  ca_only.ca_pem = kPem;
  CHECK(MakeServerCredentials(ca_only, "127.0.0.1:0").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace paramsync
