// TLS, mutual TLS and bearer tokens on real daemons: coordinators and agents
// started as separate processes on loopback ports, with certificates made at
// test time by gen_test_certs.sh (openssl).
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/child_process.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "common/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "paramsync/v1/agent.grpc.pb.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

namespace paramsync::bench {
namespace {

constexpr char kSharedToken[] = "shared-token-0123456789abcdef";
constexpr char kDaemonToken[] = "daemon-token-fedcba9876543210";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Certificates (see gen_test_certs.sh) and token files, made once per run.
class Material {
 public:
  static const Material& Get() {
    static const Material* material = new Material();
    return *material;
  }
  std::string operator()(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

 private:
  Material() : dir_(MakeWorkDir("tls")) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> script = ChildProcess::Spawn(
        {"/bin/bash", "tests/security/gen_test_certs.sh", dir_}, dir_ + "/gen.log", false);
    REQUIRE(script.ok());
    const int status = (*script)->Wait(absl::Seconds(60));
    INFO(ReadAll(dir_ + "/gen.log"));
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::ofstream((*this)("token")) << kSharedToken << "\n";
    std::ofstream((*this)("daemon_token")) << kDaemonToken << "\n";
  }
  const std::string dir_;
};

// What a daemon of a TLS deployment is started with.
SecurityConfig DaemonSecurity(bool mutual, bool tokens) {
  const Material& m = Material::Get();
  SecurityConfig config;
  config.tls_cert = m("daemon.pem");
  config.tls_key = m("daemon.key");
  if (mutual) config.tls_ca = m("ca.pem");
  if (tokens) {
    config.token_file = m("token");
    config.daemon_token_file = m("daemon_token");
  }
  return config;
}

// A client: `ca` to trust ("" for plaintext), `cert` the client key pair's
// name ("" for none).
Credentials ClientCredentials(const std::string& ca, const std::string& cert = "") {
  const Material& m = Material::Get();
  SecurityConfig config;
  if (!ca.empty()) config.tls_ca = m(ca + ".pem");
  if (!cert.empty()) {
    config.tls_cert = m(cert + ".pem");
    config.tls_key = m(cert + ".key");
  }
  absl::StatusOr<Credentials> credentials = LoadCredentials(config);
  INFO(credentials.status().ToString());
  REQUIRE(credentials.ok());
  return *credentials;
}

// A daemon started alone; `address` is what it wrote to its address file.
struct Daemon {
  std::unique_ptr<ChildProcess> process;
  std::string address;
  std::string log;
};

// Starts `argv` (plus --address_file) and waits until it serves. Fails the test
// if it exits first.
Daemon StartDaemon(std::vector<std::string> argv, const std::string& name) {
  const std::string dir = MakeWorkDir(name);
  Daemon daemon;
  daemon.log = dir + "/daemon.log";
  const std::string address_file = dir + "/address";
  argv.push_back("--address_file=" + address_file);
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Spawn(argv, daemon.log, false);
  REQUIRE(process.ok());
  daemon.process = *std::move(process);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (daemon.address.empty()) {
    std::ifstream in(address_file);
    if (in && std::getline(in, daemon.address) && !daemon.address.empty()) break;
    daemon.address.clear();
    INFO(ReadAll(daemon.log));
    REQUIRE(daemon.process->Running());
    REQUIRE(absl::Now() < deadline);
    absl::SleepFor(absl::Milliseconds(20));
  }
  return daemon;
}

// Runs `argv` expecting it to exit with status 1 at start; returns its log.
std::string StartRefused(const std::vector<std::string>& argv, const std::string& name) {
  const std::string log = MakeWorkDir(name) + "/daemon.log";
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Spawn(argv, log, false);
  REQUIRE(process.ok());
  const int status = (*process)->Wait(absl::Seconds(20));
  const std::string text = ReadAll(log);
  INFO(text);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  return text;
}

std::string Port(const std::string& address) { return address.substr(address.rfind(':') + 1); }

grpc::Status ListAgents(const std::string& address, const Credentials& credentials,
                        const std::string& token = "", int* agents = nullptr) {
  auto stub = v1::Coordinator::NewStub(MakeChannel(address, credentials, token));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListAgentsResponse response;
  grpc::Status status = stub->ListAgents(&context, {}, &response);
  if (agents != nullptr) *agents = response.agents_size();
  return status;
}

grpc::Status HealthCheck(const std::string& address, const std::string& token) {
  auto stub = grpc::health::v1::Health::NewStub(MakeChannel(address, Credentials(), token));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse response;
  return stub->Check(&context, {}, &response);
}

// An AgentControl call that changes nothing.
grpc::Status NewGroupIds(const std::string& agent, const std::string& token,
                         const Credentials& credentials = Credentials()) {
  auto stub = v1::AgentControl::NewStub(MakeChannel(agent, credentials, token));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::NewGroupIdsRequest request;
  request.set_count(0);
  v1::NewGroupIdsResponse response;
  return stub->NewGroupIds(&context, request, &response);
}

grpc::Status GetVersion(const std::string& agent, const std::string& token) {
  auto stub = v1::AgentLocal::NewStub(MakeChannel(agent, Credentials(), token));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetVersionRequest request;
  request.mutable_endpoint()->set_model("nobody");
  v1::GetVersionResponse response;
  return stub->GetVersion(&context, request, &response);
}

void CheckRefused(const grpc::Status& status) {
  INFO(status.error_code() << ": " << status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
}

void CheckOk(const grpc::Status& status) {
  INFO(status.error_code() << ": " << status.error_message());
  CHECK(status.ok());
}

void CheckCode(const grpc::Status& status, grpc::StatusCode code, const std::string& needle = "") {
  INFO(status.error_code() << ": " << status.error_message());
  CHECK(status.error_code() == code);
  CHECK(Contains(status.error_message(), needle));
  CHECK_FALSE(Contains(status.error_message(), kSharedToken));
  CHECK_FALSE(Contains(status.error_message(), kDaemonToken));
}

std::vector<std::string> Flags(std::vector<std::string> argv, const SecurityConfig& security) {
  for (std::string& flag : SecurityFlags(security, true)) argv.push_back(std::move(flag));
  return argv;
}

TEST_CASE("TLS: clients trusting the CA are served; plaintext clients and other CAs are not",
          "[security]") {
  Daemon coordinator =
      StartDaemon(Flags({"coordinator/paramsync-coordinator", "--listen=127.0.0.1:0"},
                        DaemonSecurity(false, false)),
                  "tls");
  CheckOk(ListAgents(coordinator.address, ClientCredentials("ca")));
  // The certificate names localhost too.
  CheckOk(ListAgents("localhost:" + Port(coordinator.address), ClientCredentials("ca")));
  CheckRefused(ListAgents(coordinator.address, ClientCredentials("")));
  CheckRefused(ListAgents(coordinator.address, ClientCredentials("other_ca")));
  CHECK(Contains(ReadAll(coordinator.log), "(TLS, no tokens)"));
}

TEST_CASE("Mutual TLS: the server requires a client certificate its CA signed", "[security]") {
  Daemon coordinator =
      StartDaemon(Flags({"coordinator/paramsync-coordinator", "--listen=127.0.0.1:0"},
                        DaemonSecurity(true, false)),
                  "mtls");
  CheckOk(ListAgents(coordinator.address, ClientCredentials("ca", "client")));
  SECTION("no client certificate") {
    CheckRefused(ListAgents(coordinator.address, ClientCredentials("ca")));
  }
  SECTION("a client certificate of another CA") {
    CheckRefused(ListAgents(coordinator.address, ClientCredentials("ca", "other_client")));
  }
  SECTION("a client trusting another CA") {
    CheckRefused(ListAgents(coordinator.address, ClientCredentials("other_ca", "other_client")));
  }
  SECTION("plaintext") { CheckRefused(ListAgents(coordinator.address, ClientCredentials(""))); }
}

TEST_CASE("Tokens: every call needs one; calls between daemons need the daemon token",
          "[security]") {
  const Material& m = Material::Get();
  ClusterSecurity security;  // Plaintext on loopback, tokens only.
  security.daemons.token_file = m("token");
  security.daemons.daemon_token_file = m("daemon_token");
  security.clients.token_file = m("token");
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start({"cpu", "cpu"}, MakeWorkDir("tokens"), security);
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  const std::string coordinator = (*cluster)->coordinator_address();
  const std::string agent = (*cluster)->agent_address(0);

  SECTION("coordinator") {
    CheckCode(ListAgents(coordinator, Credentials()), grpc::StatusCode::UNAUTHENTICATED,
              "missing 'authorization: Bearer <token>'");
    CheckCode(ListAgents(coordinator, Credentials(), "not-the-token"),
              grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
    CheckCode(ListAgents(coordinator, Credentials(), kDaemonToken),
              grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
    int agents = 0;
    CheckOk(ListAgents(coordinator, Credentials(), kSharedToken, &agents));
    CHECK(agents == 2);  // The agents registered with the token.
    // The health service too.
    CheckCode(HealthCheck(coordinator, ""), grpc::StatusCode::UNAUTHENTICATED);
    CheckOk(HealthCheck(coordinator, kSharedToken));
  }
  SECTION("a client's token cannot register an agent") {
    auto stub = v1::Coordinator::NewStub(MakeChannel(coordinator, Credentials(), kSharedToken));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::RegisterAgentRequest request;
    request.mutable_agent()->set_address("127.0.0.1:1");
    v1::RegisterAgentResponse response;
    CheckCode(stub->RegisterAgent(&context, request, &response),
              grpc::StatusCode::PERMISSION_DENIED,
              "only the coordinator and agents may call /paramsync.v1.Coordinator/RegisterAgent");
  }
  SECTION("a client's token cannot push data into an agent") {
    auto stub = v1::AgentData::NewStub(MakeChannel(agent, Credentials(), kSharedToken));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PushResponse response;
    auto writer = stub->Push(&context, &response);
    v1::DataChunk chunk;
    chunk.set_data("forged");
    writer->Write(chunk);
    writer->WritesDone();
    CheckCode(writer->Finish(), grpc::StatusCode::PERMISSION_DENIED,
              "only the coordinator and agents may call /paramsync.v1.AgentData/Push");
  }
  SECTION("AgentControl only with the daemon token") {
    CheckCode(NewGroupIds(agent, kSharedToken), grpc::StatusCode::PERMISSION_DENIED,
              "only the coordinator and agents may call /paramsync.v1.AgentControl/NewGroupIds");
    CheckCode(NewGroupIds(agent, ""), grpc::StatusCode::UNAUTHENTICATED, "missing");
    CheckCode(NewGroupIds(agent, "not-the-token"), grpc::StatusCode::UNAUTHENTICATED,
              "invalid bearer token");
    CheckOk(NewGroupIds(agent, kDaemonToken));
  }
  SECTION("AgentLocal with the shared token") {
    CheckCode(GetVersion(agent, ""), grpc::StatusCode::UNAUTHENTICATED, "missing");
    CheckCode(GetVersion(agent, "not-the-token"), grpc::StatusCode::UNAUTHENTICATED);
    CheckCode(GetVersion(agent, kDaemonToken), grpc::StatusCode::UNAUTHENTICATED);
    CheckCode(GetVersion(agent, kSharedToken), grpc::StatusCode::NOT_FOUND);  // Past the check.
  }
  SECTION("a sync: framework processes, AgentControl and AgentData pushes carry their tokens") {
    auto trainer = (*cluster)->Deploy({"trainer", true, 1, 1, 1, {0}, "tiny"});
    INFO(trainer.status().ToString());
    REQUIRE(trainer.ok());
    auto inference = (*cluster)->Deploy({"vllm", false, 1, 1, 1, {1}, "tiny"});
    INFO(inference.status().ToString());
    REQUIRE(inference.ok());
    client::CoordinatorClient client(coordinator, security.clients);
    v1::SyncGroupSpec spec;
    spec.set_name("g");
    spec.set_src_model("trainer");
    spec.set_dst_model("vllm");
    REQUIRE(client.CreateSyncGroup(spec).ok());
    REQUIRE(LocalCluster::CommandAll(*trainer, "fill 1").ok());
    absl::StatusOr<v1::SyncResponse> report = client.Sync("g");
    INFO(report.status().ToString());
    REQUIRE(report.ok());
    CHECK(LocalCluster::CommandAll(*inference, "verify 1").ok());
  }
}

TEST_CASE("Plaintext on a non-loopback address is refused at start unless allowed", "[security]") {
  const std::string message =
      "refusing to serve plaintext gRPC on 0.0.0.0:0, which is not a "
      "loopback address";
  SECTION("coordinator") {
    const std::string log =
        StartRefused({"coordinator/paramsync-coordinator", "--listen=0.0.0.0:0"}, "wildcard");
    CHECK(Contains(log, message));
    CHECK(Contains(log, "--allow_insecure_remote"));
    Daemon allowed = StartDaemon(
        {"coordinator/paramsync-coordinator", "--listen=0.0.0.0:0", "--allow_insecure_remote"},
        "wildcard-allowed");
    CheckOk(ListAgents("127.0.0.1:" + Port(allowed.address), Credentials()));
    // TLS needs no permission.
    Daemon tls = StartDaemon(Flags({"coordinator/paramsync-coordinator", "--listen=0.0.0.0:0"},
                                   DaemonSecurity(false, false)),
                             "wildcard-tls");
    CheckOk(ListAgents("127.0.0.1:" + Port(tls.address), ClientCredentials("ca")));
  }
  SECTION("agent") {
    const std::vector<std::string> argv = {"agent/paramsync-agent", "--listen=0.0.0.0:0",
                                           "--coordinator=127.0.0.1:1"};
    CHECK(Contains(StartRefused(argv, "agent-wildcard"), message));
    std::vector<std::string> allowed_argv = argv;
    allowed_argv.push_back("--allow_insecure_remote");
    Daemon allowed = StartDaemon(allowed_argv, "agent-wildcard-allowed");
    CHECK(Contains(ReadAll(allowed.log), "(plaintext, no tokens)"));
  }
}

TEST_CASE("Daemons refuse unusable security flags at start, naming the problem", "[security]") {
  const Material& m = Material::Get();
  SECTION("a shared token without the daemon token") {
    const std::string log = StartRefused(
        {"coordinator/paramsync-coordinator", "--listen=127.0.0.1:0", "--token_file=" + m("token")},
        "one-token");
    CHECK(Contains(log, "--token_file and --daemon_token_file go together"));
  }
  SECTION("an unreadable certificate") {
    const std::string missing = m("no-such-cert.pem");
    const std::string log = StartRefused({"agent/paramsync-agent", "--listen=127.0.0.1:0",
                                          "--tls_cert=" + missing, "--tls_key=" + m("daemon.key")},
                                         "missing-cert");
    CHECK(Contains(log, "cannot read TLS certificate file " + missing));
  }
}

// Coordinator + 2 agents + a trainer and an inference process, all separate
// processes; every connection mutual TLS, every call with its token.
TEST_CASE("A sync runs end to end over mutual TLS with tokens", "[security]") {
  const Material& m = Material::Get();
  ClusterSecurity security;
  security.daemons = DaemonSecurity(true, true);
  security.clients.tls_ca = m("ca.pem");
  security.clients.tls_cert = m("client.pem");
  security.clients.tls_key = m("client.key");
  security.clients.token_file = m("token");
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start({"cpu", "cpu"}, MakeWorkDir("mtls-sync"), security);
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  auto trainer = (*cluster)->Deploy({"trainer", true, 1, 1, 1, {0}, "small"});
  INFO(trainer.status().ToString());
  REQUIRE(trainer.ok());
  auto inference = (*cluster)->Deploy({"vllm", false, 1, 1, 1, {1}, "small"});
  INFO(inference.status().ToString());
  REQUIRE(inference.ok());

  client::CoordinatorClient coordinator((*cluster)->coordinator_address(), security.clients);
  v1::SyncGroupSpec spec;
  spec.set_name("secure");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  REQUIRE(coordinator.CreateSyncGroup(spec).ok());
  for (int64_t version : {1, 2}) {
    REQUIRE(LocalCluster::CommandAll(*trainer, absl::StrCat("fill ", version)).ok());
    absl::StatusOr<v1::SyncResponse> report = coordinator.Sync("secure");
    INFO(report.status().ToString());
    REQUIRE(report.ok());
    CHECK(report->version() == version);
    CHECK(report->bytes() > 0);
    absl::StatusOr<std::vector<std::string>> verified =
        LocalCluster::CommandAll(*inference, absl::StrCat("verify ", version));
    INFO(verified.status().ToString());
    CHECK(verified.ok());
  }
  CHECK(Contains(ReadAll((*cluster)->coordinator().log_path()), "(mutual TLS, bearer tokens)"));
  CHECK(Contains(ReadAll((*cluster)->agent(1).log_path()), "(mutual TLS, bearer tokens)"));

  // A client without the token, or without a certificate, gets nothing.
  SecurityConfig no_token = security.clients;
  no_token.token_file.clear();
  CHECK(client::CoordinatorClient((*cluster)->coordinator_address(), no_token)
            .ListAgents()
            .status()
            .code() == absl::StatusCode::kUnauthenticated);
  // Over TLS too, agents take commands only with the daemon token.
  CheckCode(
      NewGroupIds((*cluster)->agent_address(0), kSharedToken, ClientCredentials("ca", "client")),
      grpc::StatusCode::PERMISSION_DENIED, "only the coordinator and agents may call");
  CheckCode(NewGroupIds((*cluster)->agent_address(0), "", ClientCredentials("ca", "client")),
            grpc::StatusCode::UNAUTHENTICATED, "missing");
  SecurityConfig no_cert = security.clients;
  no_cert.tls_cert.clear();
  no_cert.tls_key.clear();
  CHECK(client::CoordinatorClient((*cluster)->coordinator_address(), no_cert)
            .ListAgents()
            .status()
            .code() == absl::StatusCode::kUnavailable);

  SECTION("paramsyncctl takes the same settings as flags") {
    auto ctl = [&](std::vector<std::string> flags) {
      std::vector<std::string> argv = {
          "client/ctl/paramsyncctl", "--coordinator=" + (*cluster)->coordinator_address(), "status"};
      argv.insert(argv.begin() + 1, flags.begin(), flags.end());
      const std::string log = MakeWorkDir("ctl") + "/out.log";
      absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Spawn(argv, log, false);
      REQUIRE(process.ok());
      const int status = (*process)->Wait(absl::Seconds(60));
      return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadAll(log));
    };
    const std::vector<std::string> tls = {
        "--tls_ca=" + m("ca.pem"), "--tls_cert=" + m("client.pem"), "--tls_key=" + m("client.key")};
    std::vector<std::string> all = tls;
    all.push_back("--token_file=" + m("token"));
    auto [ok_code, ok_output] = ctl(all);
    INFO(ok_output);
    CHECK(ok_code == 0);
    CHECK(Contains(ok_output, "vllm"));
    auto [no_token_code, no_token_output] = ctl(tls);
    INFO(no_token_output);
    CHECK(no_token_code == 1);
    CHECK(Contains(no_token_output, "UNAUTHENTICATED"));
    std::vector<std::string> missing = tls;
    missing.push_back("--token_file=" + m("no-such-token"));
    auto [missing_code, missing_output] = ctl(missing);
    INFO(missing_output);
    CHECK(missing_code == 1);
    CHECK(Contains(missing_output, m("no-such-token")));
  }
}

}  // namespace
}  // namespace paramsync::bench
