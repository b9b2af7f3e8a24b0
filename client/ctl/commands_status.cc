// paramsyncctl status: who is registered and what each endpoint holds.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/commands.h"
#include "client/ctl/human_units.h"
#include "client/ctl/table_printer.h"

namespace paramsync::ctl {
namespace {

std::string RoleName(v1::Role role) {
  return role == v1::ROLE_TRAINER ? "trainer" : role == v1::ROLE_INFERENCE ? "inference" : "-";
}

// "120 ms ago", or "lapsed 5.0 s" once past the lease (the coordinator is
// about to expire the agent).
std::string Heartbeat(const v1::AgentInfo& agent, int64_t lease_ms) {
  const absl::Duration age = absl::Milliseconds(agent.heartbeat_age_ms());
  if (lease_ms > 0 && agent.heartbeat_age_ms() > lease_ms) {
    return absl::StrCat("lapsed ", HumanDuration(age));
  }
  return absl::StrCat(HumanDuration(age), " ago");
}

void PrintTables(const v1::ListAgentsResponse& agents, const v1::ListEndpointsResponse& endpoints) {
  std::map<std::string, std::vector<std::string>> ranks;  // By agent id: "model:rank".
  for (const v1::EndpointStatus& e : endpoints.endpoints()) {
    ranks[e.agent_id()].push_back(absl::StrCat(e.endpoint().model(), ":", e.endpoint().rank()));
  }
  TablePrinter agent_table({"AGENT", "NODE", "DEVICE", "ADDRESS", "HEARTBEAT", "RANKS"});
  for (const v1::AgentInfo& a : agents.agents()) {
    const auto it = ranks.find(a.agent_id());
    agent_table.AddRow({a.agent_id(), a.host(), a.device(), a.address(),
                        Heartbeat(a, agents.lease_ms()),
                        it == ranks.end() ? "-" : absl::StrJoin(it->second, " ")});
  }
  TablePrinter endpoint_table({"MODEL", "ROLE", "RANK", "REPLICA", "TP", "PP", "EP", "AGENT",
                               "TENSORS", "BYTES", "VERSION"});
  for (const v1::EndpointStatus& e : endpoints.endpoints()) {
    const v1::EndpointSpec& s = e.endpoint();
    endpoint_table.AddRow(
        {s.model(), RoleName(s.role()), absl::StrCat(s.rank()), absl::StrCat(s.replica()),
         absl::StrCat(s.parallel().tp_size()), absl::StrCat(s.parallel().pp_size()),
         absl::StrCat(s.parallel().ep_size()), e.agent_id(), absl::StrCat(e.parameters()),
         HumanBytes(e.bytes()), absl::StrCat(e.version())});
  }
  const std::string lease =
      agents.lease_ms() > 0 ? HumanDuration(absl::Milliseconds(agents.lease_ms())) : "none";
  std::cout << "agents: " << agents.agents_size() << " (lease " << lease << ")\n"
            << agent_table.ToString() << "\nendpoints: " << endpoints.endpoints_size() << "\n"
            << endpoint_table.ToString();
}

}  // namespace

ExitCode RunStatus(const CommandContext& context) {
  absl::StatusOr<v1::ListAgentsResponse> agents = context.coordinator->ListAgents(context.timeout);
  if (!agents.ok()) return ReportFailure(agents.status(), context.output);
  absl::StatusOr<v1::ListEndpointsResponse> endpoints =
      context.coordinator->ListEndpoints("", context.timeout);
  if (!endpoints.ok()) return ReportFailure(endpoints.status(), context.output);
  if (context.output == OutputFormat::kJson) {
    std::cout << JsonObject({{"agents", ToJson(*agents)}, {"endpoints", ToJson(*endpoints)}})
              << std::endl;
  } else {
    PrintTables(*agents, *endpoints);
  }
  return kExitOk;
}

}  // namespace paramsync::ctl
