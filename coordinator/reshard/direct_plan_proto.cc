#include "coordinator/reshard/direct_plan_proto.h"

#include <map>
#include <set>
#include <string>
#include <utility>

namespace paramsync::coordinator {

v1::SyncPlan DirectPlanToProto(const DirectMoves& moves, const TransferPlan& transfer) {
  v1::SyncPlan plan;
  plan.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  std::set<std::string> groups;
  for (const AgentWork& work : transfer.agents) {
    for (const v1::CollectiveGroupSpec& group : work.groups.groups()) groups.insert(group.name());
  }
  for (const std::string& name : groups) plan.add_collective_groups(name);
  std::map<std::pair<int, int>, v1::DirectPair> pairs;
  for (const BoxMove& move : moves.moves) {
    v1::DirectPair& pair = pairs[{move.src_rank, move.dst_rank}];
    pair.set_src(move.src_rank);
    pair.set_dst(move.dst_rank);
    pair.set_bytes(pair.bytes() + move.bytes());
    pair.set_boxes(pair.boxes() + 1);
  }
  for (auto& [key, pair] : pairs) *plan.add_direct_pairs() = std::move(pair);
  plan.set_wire_bytes(transfer.wire_bytes);
  return plan;
}

}  // namespace paramsync::coordinator
