// paramsyncctl: the command line for paramsync. See kUsage below (or run
// `paramsyncctl --help`) for commands, flags and exit codes.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/coordinator_client.h"
#include "client/ctl/command_line.h"
#include "client/ctl/commands.h"
#include "client/ctl/ctl_flags.h"
#include "client/ctl/exit_codes.h"
#include "client/ctl/output.h"
#include "common/credentials.h"

namespace paramsync::ctl {
namespace {

constexpr char kUsage[] =
    "usage: paramsyncctl COMMAND [flags]\n"
    "\n"
    "commands:\n"
    "  plan --topology=FILE        the ChatLearn-compatible plan of a topology, offline\n"
    "  plan --group=G              the plan the coordinator would run for group G now\n"
    "                              (get-plan --group=G: the same)\n"
    "  status                      agents (node, device, address, heartbeat, ranks) and\n"
    "                              endpoints (model, rank, agent, version held)\n"
    "  groups                      sync groups: models, comm type, strategy, version, last sync\n"
    "  create-group --group=G --src=MODEL --dst=MODEL [--comm_type=broadcast|p2p]\n"
    "               [--free_groups] [--hep [--regroup_comm_type=alltoall|allgather]]\n"
    "               [--staging_budget_bytes=N] [--validate] [--strategy=chatlearn|direct]\n"
    "               [--lora_mode=merge|adapters_only]\n"
    "  sync --group=G [--dry_run] [--warmup] [--validate]\n"
    "                              one sync, with its progress: a bar with bytes/s on a\n"
    "                              terminal, one line per event otherwise\n"
    "  watch [--since=10m] [--duration=30s]\n"
    "                              the error channel, until interrupted or --duration\n"
    "\n"
    "flags of every command:\n"
    "  --coordinator=HOST:PORT     the coordinator (default 127.0.0.1:50051)\n"
    "  --output=table|json         tables for people (default) or JSON for scripts: protobuf's\n"
    "                              JSON mapping, one object per line (sync: one per progress\n"
    "                              event, the last with the report; watch: one per event;\n"
    "                              errors: {\"error\": {\"code\", \"message\"}})\n"
    "  --timeout_s=N               deadline of each call to the coordinator (default 300;\n"
    "                              watch follows with one stream of at most this long after\n"
    "                              another)\n"
    "  --token_file, --tls_ca, --tls_cert, --tls_key, --tls_server_name\n"
    "                              security; default: $PARAMSYNC_TOKEN_FILE, $PARAMSYNC_TLS_CA,\n"
    "                              $PARAMSYNC_TLS_CERT, $PARAMSYNC_TLS_KEY,\n"
    "                              $PARAMSYNC_TLS_SERVER_NAME\n"
    "\n";

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

int Run(const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> line = ParseCommandLine(args);
  if (!line.ok()) return ReportUsage(line.status().message());
  if (line->help) {
    std::cout << kUsage << kExitCodesHelp;
    return kExitOk;
  }
  static const auto* commands = new std::map<std::string, ExitCode (*)(const CommandContext&)>{
      {"plan", RunPlan},     {"get-plan", RunPlan}, {"status", RunStatus},
      {"groups", RunGroups}, {"sync", RunSync},     {"create-group", RunCreateGroup},
      {"watch", RunWatch}};
  if (line->positional.size() != 1) {
    return ReportUsage(line->positional.empty() ? "no command given" : "expected one command");
  }
  const auto command = commands->find(line->positional[0]);
  if (command == commands->end()) {
    return ReportUsage(absl::StrCat("unknown command '", line->positional[0],
                                    "'; accepted: plan, status, groups, create-group, sync, "
                                    "watch, get-plan"));
  }
  absl::StatusOr<OutputFormat> output = ParseOutputFormat(absl::GetFlag(FLAGS_output));
  if (!output.ok()) return ReportUsage(output.status().message());
  if (absl::GetFlag(FLAGS_timeout_s) <= 0) return ReportUsage("--timeout_s must be > 0");
  client::CoordinatorClient coordinator(absl::GetFlag(FLAGS_coordinator), Security());
  return command->second(
      CommandContext{&coordinator, *output, absl::Seconds(absl::GetFlag(FLAGS_timeout_s))});
}

}  // namespace
}  // namespace paramsync::ctl

int main(int argc, char** argv) {
  return paramsync::ctl::Run(std::vector<std::string>(argv + 1, argv + argc));
}
