// paramsyncctl: the command line for paramsync.
//
//   paramsyncctl plan --topology=FILE [--format=json]    plan offline (no daemon)
//   paramsyncctl status                                  agents and endpoints
//   paramsyncctl create-group --group=G --src=M --dst=M [--comm_type=broadcast|p2p]
//   paramsyncctl sync --group=G [--dry_run] [--warmup]   run one sync, print its report
//   paramsyncctl get-plan --group=G                      the plan the coordinator would run
//   paramsyncctl watch [--timeout_s=N]                   print the error channel
//
// Exit codes: 0 success; 1 the operation failed (the status code and message are
// printed); 2 bad usage.
//
// Security: --token_file, --tls_ca, --tls_cert, --tls_key and --tls_server_name,
// each defaulting to the environment variable the client library reads
// (PARAMSYNC_TOKEN_FILE, PARAMSYNC_TLS_CA, ...).
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/coordinator_client.h"
#include "common/dtype.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_json.h"
#include "coordinator/planner/plan_verifier.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator host:port");
ABSL_FLAG(std::string, topology, "", "plan: topology JSON file (golden case format)");
ABSL_FLAG(std::string, format, "json", "plan: output format (json)");
ABSL_FLAG(std::string, group, "", "sync group name");
ABSL_FLAG(std::string, src, "", "create-group: trainer model");
ABSL_FLAG(std::string, dst, "", "create-group: inference model");
ABSL_FLAG(std::string, comm_type, "broadcast", "create-group: broadcast or p2p");
ABSL_FLAG(int, timeout_s, 300, "deadline of the operation in seconds");
ABSL_FLAG(bool, dry_run, false, "sync: set up the collective groups only, move no data");
ABSL_FLAG(bool, warmup, false, "sync: exercise every transfer once without tensors first");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token (default: $PARAMSYNC_TOKEN_FILE)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA verifying the coordinator; dials TLS (default: $PARAMSYNC_TLS_CA)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (default: $PARAMSYNC_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert (default: $PARAMSYNC_TLS_KEY)");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to verify in the coordinator's certificate (default: $PARAMSYNC_TLS_SERVER_NAME)");

namespace paramsync {
namespace {

constexpr int kFailed = 1;
constexpr int kUsage = 2;

int Fail(const absl::Status& status) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  return kFailed;
}

int Usage(const std::string& message) {
  std::cerr << "usage error: " << message << "\n" << absl::ProgramUsageMessage() << "\n";
  return kUsage;
}

std::string Json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

int Plan() {
  if (absl::GetFlag(FLAGS_format) != "json") return Usage("--format accepts only json");
  const std::string path = absl::GetFlag(FLAGS_topology);
  if (path.empty()) return Usage("plan needs --topology=FILE");
  std::ifstream in(path);
  if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", path)));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<planner::SyncTopology> topology = planner::TopologyFromJson(text.str());
  absl::StatusOr<planner::SyncPlan> plan =
      topology.ok() ? planner::BuildSyncPlan(*topology) : topology.status();
  if (plan.ok()) {
    absl::Status verified = planner::VerifySyncPlan(*topology, *plan);
    if (!verified.ok()) plan = verified;
  }
  if (!plan.ok()) {
    std::cout << planner::ErrorToJson(plan.status()) << "\n";
    return kFailed;
  }
  std::cout << planner::PlanToJson(*plan) << "\n";
  return 0;
}

int Status(client::CoordinatorClient& coordinator, absl::Duration timeout) {
  absl::StatusOr<v1::ListAgentsResponse> agents = coordinator.ListAgents(timeout);
  if (!agents.ok()) return Fail(agents.status());
  absl::StatusOr<v1::ListEndpointsResponse> endpoints = coordinator.ListEndpoints("", timeout);
  if (!endpoints.ok()) return Fail(endpoints.status());
  std::cout << absl::StrFormat("%-10s %-24s %-14s %s\n", "AGENT", "ADDRESS", "HOST", "DEVICE");
  for (const v1::AgentInfo& a : agents->agents()) {
    std::cout << absl::StrFormat("%-10s %-24s %-14s %s\n", a.agent_id(), a.address(), a.host(),
                                 a.device());
  }
  std::cout << absl::StrFormat("\n%-20s %-10s %5s %8s %3s %3s %8s %12s %8s\n", "MODEL", "ROLE",
                               "RANK", "REPLICA", "TP", "PP", "TENSORS", "BYTES", "VERSION");
  for (const v1::EndpointStatus& e : endpoints->endpoints()) {
    const v1::EndpointSpec& s = e.endpoint();
    std::cout << absl::StrFormat("%-20s %-10s %5d %8d %3d %3d %8d %12d %8d\n", s.model(),
                                 s.role() == v1::ROLE_TRAINER ? "trainer" : "inference", s.rank(),
                                 s.replica(), s.parallel().tp_size(), s.parallel().pp_size(),
                                 e.parameters(), e.bytes(), e.version());
  }
  return 0;
}

// The environment's settings, each overridden by its flag when given.
SecurityConfig Security() {
  SecurityConfig config = SecurityConfig::FromEnvironment();
  auto set = [](std::string* field, const std::string& flag) {
    if (!flag.empty()) *field = flag;
  };
  set(&config.token_file, absl::GetFlag(FLAGS_token_file));
  set(&config.tls_ca, absl::GetFlag(FLAGS_tls_ca));
  set(&config.tls_cert, absl::GetFlag(FLAGS_tls_cert));
  set(&config.tls_key, absl::GetFlag(FLAGS_tls_key));
  set(&config.tls_server_name, absl::GetFlag(FLAGS_tls_server_name));
  return config;
}

int Run(const std::vector<char*>& args) {
  if (args.size() != 2) return Usage("expected exactly one command");
  const std::string command = args[1];
  if (command == "plan") return Plan();
  client::CoordinatorClient coordinator(absl::GetFlag(FLAGS_coordinator), Security());
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  const std::string group = absl::GetFlag(FLAGS_group);
  if (command == "status") return Status(coordinator, timeout);
  if (command == "create-group") {
    v1::SyncGroupSpec spec;
    spec.set_name(group);
    spec.set_src_model(absl::GetFlag(FLAGS_src));
    spec.set_dst_model(absl::GetFlag(FLAGS_dst));
    const std::string comm = absl::GetFlag(FLAGS_comm_type);
    if (comm != "broadcast" && comm != "p2p") {
      return Usage("--comm_type accepts broadcast or p2p");
    }
    spec.set_comm_type(comm == "p2p" ? v1::COMM_TYPE_P2P : v1::COMM_TYPE_BROADCAST);
    absl::Status status = coordinator.CreateSyncGroup(spec, timeout);
    if (!status.ok()) return Fail(status);
    std::cout << "created sync group " << group << "\n";
    return 0;
  }
  if (command == "sync") {
    v1::SyncRequest request;
    request.set_group(group);
    request.set_dry_run(absl::GetFlag(FLAGS_dry_run));
    request.set_warmup(absl::GetFlag(FLAGS_warmup));
    absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(request, timeout);
    if (!report.ok()) return Fail(report.status());
    std::cout << absl::StrFormat("group %s: version %d, %d tensors, %d bytes in %.1f ms\n", group,
                                 report->version(), report->tensors(), report->bytes(),
                                 report->duration_ms());
    for (const v1::StageReport& stage : report->stages()) {
      std::cout << absl::StrFormat("  %s: %.1f ms\n", stage.name(), stage.duration_ms());
    }
    return 0;
  }
  if (command == "get-plan") {
    absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan(group, timeout);
    if (!plan.ok()) return Fail(plan.status());
    std::cout << Json(*plan) << "\n";
    return 0;
  }
  if (command == "watch") {
    absl::Status status = coordinator.WatchErrors(
        [](const v1::ErrorEvent& event) {
          std::cout << Json(event) << std::endl;
          return true;
        },
        timeout);
    return status.ok() ? 0 : Fail(status);
  }
  return Usage(absl::StrCat("unknown command '", command,
                            "'; accepted: plan, status, create-group, sync, get-plan, watch"));
}

}  // namespace
}  // namespace paramsync

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "paramsyncctl COMMAND [flags]; commands: plan, status, create-group, sync, get-plan, "
      "watch");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  return paramsync::Run(args);
}
