// The daemons' --config files, on the real binaries started as separate
// processes: a good file is served with (and flags win over it), a bad one
// stops the start with exit status 2 and "path:line: reason", and every
// example config under deploy/config/ starts a working mutual-TLS cluster.
#include <grpcpp/create_channel.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bench/child_process.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "common/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace paramsync::bench {
namespace {

constexpr char kCoordinator[] = "coordinator/paramsync-coordinator";
constexpr char kAgent[] = "agent/paramsync-agent";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

// A daemon that is serving: its process and the address it wrote.
struct Daemon {
  std::unique_ptr<ChildProcess> process;
  std::string address;
};

// Starts `argv` with --address_file=DIR/address and waits until it serves.
Daemon Serve(std::vector<std::string> argv, const std::string& dir) {
  argv.push_back("--address_file=" + dir + "/address");
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Spawn(argv, dir + "/daemon.log", false);
  REQUIRE(process.ok());
  absl::StatusOr<std::string> address =
      WaitForAddressFile(dir + "/address", **process, absl::Seconds(20));
  INFO(ReadAll(dir + "/daemon.log"));
  REQUIRE(address.ok());
  return {*std::move(process), *address};
}

// Runs `binary --config=PATH` (PATH holding `config`) and returns what it
// printed, checking that it refused to start with exit status 2.
std::string Refused(const std::string& binary, const std::string& config) {
  const std::string dir = MakeWorkDir("refused");
  const std::string path = WriteFile(dir + "/daemon.conf", config);
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Spawn({binary, "--config=" + path}, dir + "/daemon.log", false);
  REQUIRE(process.ok());
  const int status = (*process)->Wait(absl::Seconds(20));
  const std::string output = ReadAll(dir + "/daemon.log");
  INFO(output);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  return absl::StrReplaceAll(output, {{path, "daemon.conf"}});
}

TEST_CASE("A daemon serves with its config file's options, and flags win over the file",
          "[config]") {
  const std::string dir = MakeWorkDir("config-good");
  const std::string config = WriteFile(dir + "/coordinator.conf",
                                       "# a coordinator\n"
                                       "listen = 127.0.0.1:0\n"
                                       "state_file = " +
                                           dir +
                                           "/state\n"
                                           "address_file = " +
                                           dir +
                                           "/from-config\n"
                                           "heartbeat_interval_ms = 200\n"
                                           "agent_lease_ms = 600\n");
  Daemon coordinator = Serve({kCoordinator, "--config=" + config}, dir);
  // The command line's --address_file (added by Serve) won; the file's
  // state_file was used (the coordinator locks it at start).
  CHECK_FALSE(Exists(dir + "/from-config"));
  CHECK(Exists(dir + "/state.lock"));
  client::CoordinatorClient client(coordinator.address);
  absl::StatusOr<v1::ListAgentsResponse> agents = client.ListAgents();
  INFO(agents.status().ToString());
  CHECK(agents.ok());
}

TEST_CASE("A bad config file stops the start, naming the file, the line and the reason",
          "[config]") {
  SECTION("an unknown key, with the keys the daemon knows") {
    const std::string output = Refused(kCoordinator, "listen = 127.0.0.1:0\n\nlisen = x\n");
    CHECK(absl::StrContains(output, "daemon.conf:3: unknown key \"lisen\" (known: "));
    CHECK(absl::StrContains(output, "listen, "));
    CHECK(absl::StrContains(output, "state_file, "));
    CHECK(absl::StrContains(output, "tls_cert, "));
    CHECK_FALSE(absl::StrContains(output, "flagfile"));
  }
  SECTION("a value the flag's type rejects") {
    CHECK(absl::StrContains(Refused(kCoordinator, "heartbeat_interval_ms = 1s\n"),
                            "daemon.conf:1: bad value \"1s\" for heartbeat_interval_ms: "
                            "expected an integer"));
  }
  SECTION("a duplicate key") {
    CHECK(absl::StrContains(Refused(kCoordinator, "listen = a:1\n# b\nlisten = b:2\n"),
                            "daemon.conf:3: duplicate key \"listen\" (first set on line 1)"));
  }
  SECTION("a line that is not key = value") {
    CHECK(absl::StrContains(Refused(kCoordinator, "listen 127.0.0.1:0\n"),
                            "daemon.conf:1: expected \"key = value\", got \"listen 127.0.0.1:0\""));
  }
  SECTION("every bad line at once, for the agent too") {
    const std::string output = Refused(kAgent, "devise = cpu\nlisten = 127.0.0.1:0\nfoo = 1\n");
    CHECK(absl::StrContains(output, "daemon.conf:1: unknown key \"devise\" (known: "));
    CHECK(absl::StrContains(output, "coordinator, "));
    CHECK(absl::StrContains(output, "device, "));
    CHECK(absl::StrContains(output, "daemon.conf:3: unknown key \"foo\""));
  }
}

TEST_CASE("A config file that cannot be read stops the start", "[config]") {
  const std::string dir = MakeWorkDir("config-missing");
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Spawn(
      {kCoordinator, "--config=" + dir + "/nothing.conf"}, dir + "/daemon.log", false);
  REQUIRE(process.ok());
  const int status = (*process)->Wait(absl::Seconds(20));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(absl::StrContains(ReadAll(dir + "/daemon.log"),
                          dir + "/nothing.conf: cannot read: No such file or directory"));
}

// TLS material (tests/security/gen_test_certs.sh) and tokens, once per run.
std::string Material() {
  static const std::string* dir = [] {
    auto* made = new std::string(MakeWorkDir("config-tls"));
    absl::StatusOr<std::unique_ptr<ChildProcess>> script = ChildProcess::Spawn(
        {"/bin/bash", "tests/security/gen_test_certs.sh", *made}, *made + "/gen.log", false);
    REQUIRE(script.ok());
    const int status = (*script)->Wait(absl::Seconds(60));
    INFO(ReadAll(*made + "/gen.log"));
    REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    WriteFile(*made + "/token", "config-test-shared-token\n");
    WriteFile(*made + "/daemon_token", "config-test-daemon-token\n");
    return made;
  }();
  return *dir;
}

// The flags that replace an example's host-specific paths with this test's.
std::vector<std::string> TestSecurityFlags(const std::string& m) {
  return {"--tls_cert=" + m + "/daemon.pem", "--tls_key=" + m + "/daemon.key",
          "--tls_ca=" + m + "/ca.pem", "--token_file=" + m + "/token",
          "--daemon_token_file=" + m + "/daemon_token",
          // The examples' certificates name the deployment; these name localhost.
          "--tls_server_name=localhost"};
}

// Starts a coordinator and an agent with the example configs of `kind`
// (deploy/config/KIND/), overriding on the command line only what names this
// machine (addresses, certificate and state paths, the device), and checks
// that the agent registers over mutual TLS with tokens and that both answer
// health probes on their plaintext health ports.
void StartExampleCluster(const std::string& kind) {
  const std::string m = Material();
  const std::string dir = MakeWorkDir("config-" + kind);
  std::vector<std::string> coordinator_argv = {
      kCoordinator, "--config=deploy/config/" + kind + "/coordinator.conf", "--listen=127.0.0.1:0",
      "--health_listen=127.0.0.1:0", "--state_file=" + dir + "/state"};
  for (std::string& flag : TestSecurityFlags(m)) coordinator_argv.push_back(std::move(flag));
  const std::string coordinator_dir = dir + "/coordinator";
  REQUIRE(mkdir(coordinator_dir.c_str(), 0700) == 0);
  Daemon coordinator = Serve(coordinator_argv, coordinator_dir);

  std::vector<std::string> agent_argv = {kAgent,
                                         "--config=deploy/config/" + kind + "/agent.conf",
                                         "--coordinator=" + coordinator.address,
                                         "--listen=127.0.0.1:0",
                                         "--health_listen=127.0.0.1:0",
                                         "--device=cpu:0"};
  for (std::string& flag : TestSecurityFlags(m)) agent_argv.push_back(std::move(flag));
  const std::string agent_dir = dir + "/agent";
  REQUIRE(mkdir(agent_dir.c_str(), 0700) == 0);
  Daemon agent = Serve(agent_argv, agent_dir);

  SecurityConfig client_security;
  client_security.tls_ca = m + "/ca.pem";
  client_security.tls_cert = m + "/client.pem";
  client_security.tls_key = m + "/client.key";
  client_security.token_file = m + "/token";
  client::CoordinatorClient client(coordinator.address, client_security);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  absl::StatusOr<v1::ListAgentsResponse> agents;
  do {
    agents = client.ListAgents();
    if (agents.ok() && agents->agents_size() == 1) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  INFO(agents.status().ToString());
  INFO(ReadAll(agent_dir + "/daemon.log"));
  REQUIRE(agents.ok());
  CHECK(agents->agents_size() == 1);

  // Both answer kubelet-style probes (plaintext, no token) on their health ports.
  for (const std::string& log : {coordinator_dir + "/daemon.log", agent_dir + "/daemon.log"}) {
    const std::string text = ReadAll(log);
    const std::string marker = "health service (plaintext, health only) on ";
    const size_t at = text.find(marker);
    INFO(text);
    REQUIRE(at != std::string::npos);
    const std::string address =
        text.substr(at + marker.size(), text.find('\n', at) - at - marker.size());
    auto health = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = health->Check(&context, {}, &response);
    INFO(status.error_message());
    CHECK(status.ok());
    CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_CASE("The systemd example configs start a mutual-TLS cluster", "[config]") {
  StartExampleCluster("systemd");
}

TEST_CASE("The Kubernetes example configs start a mutual-TLS cluster", "[config]") {
  StartExampleCluster("kubernetes");
}

}  // namespace
}  // namespace paramsync::bench
