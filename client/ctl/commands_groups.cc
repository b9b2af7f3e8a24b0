// paramsyncctl groups and create-group: the coordinator's sync groups.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/commands.h"
#include "client/ctl/ctl_flags.h"
#include "client/ctl/human_units.h"
#include "client/ctl/table_printer.h"

namespace paramsync::ctl {
namespace {

template <typename Enum>
using Choices = std::vector<std::pair<std::string, Enum>>;

const Choices<v1::CommType>& CommTypes() {
  static const auto* choices =
      new Choices<v1::CommType>{{"broadcast", v1::COMM_TYPE_BROADCAST}, {"p2p", v1::COMM_TYPE_P2P}};
  return *choices;
}

const Choices<v1::RegroupCommType>& RegroupCommTypes() {
  static const auto* choices = new Choices<v1::RegroupCommType>{
      {"alltoall", v1::REGROUP_COMM_TYPE_ALLTOALL}, {"allgather", v1::REGROUP_COMM_TYPE_ALLGATHER}};
  return *choices;
}

const Choices<v1::SyncStrategyKind>& Strategies() {
  static const auto* choices = new Choices<v1::SyncStrategyKind>{
      {"chatlearn", v1::SYNC_STRATEGY_KIND_CHATLEARN}, {"direct", v1::SYNC_STRATEGY_KIND_DIRECT}};
  return *choices;
}

const Choices<v1::LoraMode>& LoraModes() {
  static const auto* choices = new Choices<v1::LoraMode>{
      {"merge", v1::LORA_MODE_MERGE}, {"adapters_only", v1::LORA_MODE_ADAPTERS_ONLY}};
  return *choices;
}

// The value of --`flag` among `choices`; INVALID_ARGUMENT listing them otherwise.
template <typename Enum>
absl::StatusOr<Enum> Choose(const std::string& flag, const std::string& value,
                            const Choices<Enum>& choices) {
  for (const auto& [name, choice] : choices) {
    if (name == value) return choice;
  }
  std::vector<std::string> names;
  for (const auto& choice : choices) names.push_back(choice.first);
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " is '", value, "'; accepted: ", absl::StrJoin(names, ", ")));
}

// The name `choices` give `value`; an unset enum means the first choice.
template <typename Enum>
std::string NameOf(Enum value, const Choices<Enum>& choices) {
  for (const auto& [name, choice] : choices) {
    if (choice == value) return name;
  }
  return choices.front().first;
}

// What the group does beyond a plain dense sync: "hep(alltoall), free-groups, staging 64.0 MiB",
// "direct, dense".
std::string Strategy(const v1::SyncGroupSpec& spec) {
  std::vector<std::string> parts;
  if (spec.strategy() == v1::SYNC_STRATEGY_KIND_DIRECT) parts.push_back("direct");
  parts.push_back(
      spec.hep() ? absl::StrCat("hep(", NameOf(spec.regroup_comm_type(), RegroupCommTypes()), ")")
                 : "dense");
  if (spec.lora_mode() == v1::LORA_MODE_ADAPTERS_ONLY) parts.push_back("lora adapters-only");
  if (spec.free_groups()) parts.push_back("free-groups");
  if (spec.validate()) parts.push_back("validated");
  if (spec.staging_budget_bytes() > 0) {
    parts.push_back(absl::StrCat("staging ", HumanBytes(spec.staging_budget_bytes())));
  } else if (spec.staging_budget_bytes() < 0) {
    parts.push_back("staging unbounded");
  }
  return absl::StrJoin(parts, ", ");
}

void PrintGroups(const v1::ListSyncGroupsResponse& groups) {
  TablePrinter table(
      {"GROUP", "SRC", "DST", "COMM", "STRATEGY", "VERSION", "LAST SYNC", "OUTCOME"});
  std::vector<std::string> failures;
  const absl::Time now = absl::Now();
  for (const v1::SyncGroupStatus& g : groups.groups()) {
    const v1::SyncGroupSpec& spec = g.spec();
    const bool synced = g.last_sync_unix_ms() > 0;
    const auto code = static_cast<absl::StatusCode>(g.last_sync_code());
    std::string outcome = !synced                         ? "-"
                          : code == absl::StatusCode::kOk ? "ok"
                                                          : absl::StatusCodeToString(code);
    if (g.syncing()) outcome = "syncing";
    table.AddRow(
        {spec.name(), spec.src_model(), spec.dst_model(), NameOf(spec.comm_type(), CommTypes()),
         Strategy(spec), absl::StrCat(g.version()),
         synced ? absl::StrCat(HumanDuration(now - absl::FromUnixMillis(g.last_sync_unix_ms())),
                               " ago")
                : "-",
         outcome});
    if (synced && code != absl::StatusCode::kOk) {
      failures.push_back(absl::StrCat(spec.name(), ": ", g.last_sync_error()));
    }
  }
  std::cout << table.ToString();
  if (!failures.empty()) {
    std::cout << "\nlast sync failed:\n  " << absl::StrJoin(failures, "\n  ") << "\n";
  }
}

}  // namespace

ExitCode RunGroups(const CommandContext& context) {
  return PrintResult(context.coordinator->ListSyncGroups(context.timeout), context.output,
                     PrintGroups);
}

ExitCode RunCreateGroup(const CommandContext& context) {
  v1::SyncGroupSpec spec;
  spec.set_name(absl::GetFlag(FLAGS_group));
  spec.set_src_model(absl::GetFlag(FLAGS_src));
  spec.set_dst_model(absl::GetFlag(FLAGS_dst));
  for (const auto& [flag, value] :
       {std::pair{"group", &spec.name()}, std::pair{"src", &spec.src_model()},
        std::pair{"dst", &spec.dst_model()}}) {
    if (value->empty()) return ReportUsage(absl::StrCat("create-group needs --", flag));
  }
  absl::StatusOr<v1::CommType> comm =
      Choose("comm_type", absl::GetFlag(FLAGS_comm_type), CommTypes());
  if (!comm.ok()) return ReportUsage(comm.status().message());
  absl::StatusOr<v1::RegroupCommType> regroup =
      Choose("regroup_comm_type", absl::GetFlag(FLAGS_regroup_comm_type), RegroupCommTypes());
  if (!regroup.ok()) return ReportUsage(regroup.status().message());
  absl::StatusOr<v1::SyncStrategyKind> strategy =
      Choose("strategy", absl::GetFlag(FLAGS_strategy), Strategies());
  if (!strategy.ok()) return ReportUsage(strategy.status().message());
  absl::StatusOr<v1::LoraMode> lora_mode =
      Choose("lora_mode", absl::GetFlag(FLAGS_lora_mode), LoraModes());
  if (!lora_mode.ok()) return ReportUsage(lora_mode.status().message());
  // Defaults stay unset, as in specs made before these fields existed.
  if (*strategy != v1::SYNC_STRATEGY_KIND_CHATLEARN) spec.set_strategy(*strategy);
  if (*lora_mode != v1::LORA_MODE_MERGE) spec.set_lora_mode(*lora_mode);
  spec.set_comm_type(*comm);
  spec.set_regroup_comm_type(*regroup);
  spec.set_free_groups(absl::GetFlag(FLAGS_free_groups));
  spec.set_hep(absl::GetFlag(FLAGS_hep));
  spec.set_staging_budget_bytes(absl::GetFlag(FLAGS_staging_budget_bytes));
  spec.set_validate(absl::GetFlag(FLAGS_validate));
  absl::Status created = context.coordinator->CreateSyncGroup(spec, context.timeout);
  if (!created.ok()) return ReportFailure(created, context.output);
  if (context.output == OutputFormat::kJson) {
    PrintJsonLine(spec);
  } else {
    std::cout << "created sync group " << spec.name() << ": " << spec.src_model() << " -> "
              << spec.dst_model() << " (" << NameOf(spec.comm_type(), CommTypes()) << ", "
              << Strategy(spec) << ")\n";
  }
  return kExitOk;
}

}  // namespace paramsync::ctl
