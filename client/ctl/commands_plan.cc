// paramsyncctl plan: a sync plan, of an offline topology or of a live group.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/commands.h"
#include "client/ctl/ctl_flags.h"
#include "client/ctl/human_units.h"
#include "client/ctl/table_printer.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_json.h"
#include "coordinator/planner/plan_proto.h"
#include "coordinator/planner/plan_verifier.h"

namespace paramsync::ctl {
namespace {

std::string Pairs(const google::protobuf::RepeatedPtrField<v1::RankPair>& pairs) {
  if (pairs.empty()) return "-";
  return absl::StrJoin(pairs, " ", [](std::string* out, const v1::RankPair& pair) {
    absl::StrAppend(out, pair.src(), "->", pair.dst());
  });
}

std::string Lists(const google::protobuf::RepeatedPtrField<v1::RankList>& lists) {
  if (lists.empty()) return "-";
  return absl::StrJoin(lists, " ", [](std::string* out, const v1::RankList& list) {
    absl::StrAppend(out, "[", absl::StrJoin(list.ranks(), " "), "]");
  });
}

// A direct plan: what each pair of ranks moves.
void PrintDirectPlanTable(const v1::SyncPlan& plan) {
  TablePrinter table({"PLAN", ""});
  table.AddRow({"strategy", "direct"});
  table.AddRow({"wire bytes", HumanBytes(plan.wire_bytes())});
  table.AddRow({"pairs", absl::StrCat(plan.direct_pairs_size())});
  for (const v1::DirectPair& pair : plan.direct_pairs()) {
    table.AddRow({"", absl::StrCat(pair.src(), "->", pair.dst(), ": ", HumanBytes(pair.bytes()),
                                   " in ", pair.boxes(), " box(es)")});
  }
  table.AddRow({"collective groups", absl::StrCat(plan.collective_groups_size())});
  for (const std::string& name : plan.collective_groups()) table.AddRow({"", name});
  std::cout << table.ToString();
}

void PrintPlanTable(const v1::SyncPlan& plan) {
  if (plan.strategy() == v1::SYNC_STRATEGY_KIND_DIRECT) {
    PrintDirectPlanTable(plan);
    return;
  }
  TablePrinter table({"PLAN", ""});
  table.AddRow({"comm type", plan.comm_type() == v1::COMM_TYPE_P2P ? "p2p" : "broadcast"});
  table.AddRow({"tp mapping", absl::StrCat(plan.tp_num_mapping(),
                                           plan.tp_num_mapping() > 1 ? " (two stages)" : "")});
  table.AddRow({"trainer dp groups", Lists(plan.src_dp_ranks())});
  table.AddRow({"inference replicas", Lists(plan.dst_dp_ranks())});
  table.AddRow({"stage 1", Pairs(plan.stage1())});
  table.AddRow({"stage 2", Pairs(plan.stage2())});
  if (!plan.routed_experts().empty())
    table.AddRow({"routed experts", Pairs(plan.routed_experts())});
  if (plan.regroup_comm_type() != v1::REGROUP_COMM_TYPE_UNSPECIFIED) {
    table.AddRow(
        {"regroup",
         absl::StrCat(plan.regroup_comm_type() == v1::REGROUP_COMM_TYPE_ALLGATHER ? "allgather "
                                                                                  : "alltoall ",
                      Lists(plan.regroup_groups()))});
  }
  table.AddRow(
      {"send order", plan.send_order().empty() ? "-" : absl::StrJoin(plan.send_order(), " ")});
  table.AddRow({"collective groups", absl::StrCat(plan.collective_groups_size())});
  for (const std::string& name : plan.collective_groups()) table.AddRow({"", name});
  std::cout << table.ToString();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --topology file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ExitCode OfflinePlan(const CommandContext& context, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return ReportFailure(text.status(), context.output);
  absl::StatusOr<planner::SyncTopology> topology = planner::TopologyFromJson(*text);
  absl::StatusOr<planner::SyncPlan> plan =
      topology.ok() ? planner::BuildSyncPlan(*topology) : topology.status();
  if (plan.ok()) {
    // As the coordinator does before any byte moves.
    absl::Status verified = planner::VerifySyncPlan(*topology, *plan);
    if (!verified.ok()) plan = verified;
  }
  if (!plan.ok()) return ReportFailure(plan.status(), context.output);
  if (context.output == OutputFormat::kJson) {
    std::cout << planner::PlanToJson(*plan) << std::endl;
  } else {
    PrintPlanTable(planner::PlanToProto(*plan, topology->hep));
  }
  return kExitOk;
}

ExitCode LivePlan(const CommandContext& context, const std::string& group) {
  return PrintResult(context.coordinator->GetPlan(group, context.timeout), context.output,
                     PrintPlanTable);
}

}  // namespace

ExitCode RunPlan(const CommandContext& context) {
  const std::string topology = absl::GetFlag(FLAGS_topology);
  const std::string group = absl::GetFlag(FLAGS_group);
  if (topology.empty() == group.empty()) {
    return ReportUsage("plan needs either --topology=FILE (offline) or --group=G (live)");
  }
  return topology.empty() ? LivePlan(context, group) : OfflinePlan(context, topology);
}

}  // namespace paramsync::ctl
