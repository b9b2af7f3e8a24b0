#include "coordinator/planner/plan_proto.h"

#include <string>
#include <utility>
#include <vector>

namespace paramsync::planner {
namespace {

v1::RankList ToRankList(const std::vector<int>& ranks) {
  v1::RankList out;
  for (int r : ranks) out.add_ranks(r);
  return out;
}

void AddPairs(const std::vector<std::pair<int, int>>& pairs,
              google::protobuf::RepeatedPtrField<v1::RankPair>* out) {
  for (const auto& [src, dst] : pairs) {
    v1::RankPair* pair = out->Add();
    pair->set_src(src);
    pair->set_dst(dst);
  }
}

}  // namespace

v1::SyncPlan PlanToProto(const SyncPlan& plan, bool hep) {
  v1::SyncPlan out;
  out.set_comm_type(plan.comm_type == CommType::kP2P ? v1::COMM_TYPE_P2P : v1::COMM_TYPE_BROADCAST);
  out.set_tp_num_mapping(plan.tp_num_mapping);
  for (const auto& ranks : plan.src_dp_ranks) *out.add_src_dp_ranks() = ToRankList(ranks);
  for (const auto& ranks : plan.dst_dp_ranks) *out.add_dst_dp_ranks() = ToRankList(ranks);
  AddPairs(plan.stage1, out.mutable_stage1());
  AddPairs(plan.stage2, out.mutable_stage2());
  AddPairs(plan.routed_experts, out.mutable_routed_experts());
  if (hep) {
    out.set_regroup_comm_type(plan.regroup_comm_type == RegroupCommType::kAllGather
                                  ? v1::REGROUP_COMM_TYPE_ALLGATHER
                                  : v1::REGROUP_COMM_TYPE_ALLTOALL);
    for (const auto& ranks : plan.regroup_groups) *out.add_regroup_groups() = ToRankList(ranks);
  }
  for (const std::string& name : plan.collective_groups) out.add_collective_groups(name);
  for (int rank : plan.send_order) out.add_send_order(rank);
  return out;
}

}  // namespace paramsync::planner
