#include "coordinator/planner/send_order.h"

#include <algorithm>
#include <deque>
#include <map>

namespace paramsync::planner {

std::vector<int> RoundRobinSendOrder(const SendRecvMapping& mapping, const RankPlacement& placement,
                                     int src_dp) {
  std::map<int, std::deque<int>> senders_by_dp;
  for (int sender : mapping.senders()) {
    senders_by_dp[placement.DataParallelRank(sender)].push_back(sender);
  }
  for (auto& [dp, senders] : senders_by_dp) std::sort(senders.begin(), senders.end());

  std::vector<int> order;
  const size_t total = mapping.senders().size();
  int dp = 0;
  while (order.size() < total) {
    auto it = senders_by_dp.find(dp);
    if (it == senders_by_dp.end() || it->second.empty()) {
      // Where the seed would fail: the next dp_rank, cyclically, with senders left.
      auto has_senders = [](const auto& entry) { return !entry.second.empty(); };
      it = std::find_if(senders_by_dp.upper_bound(dp), senders_by_dp.end(), has_senders);
      if (it == senders_by_dp.end()) {
        it = std::find_if(senders_by_dp.begin(), senders_by_dp.end(), has_senders);
      }
      dp = it->first;
    }
    order.push_back(it->second.front());
    it->second.pop_front();
    ++dp;
    if (dp == src_dp || senders_by_dp.count(dp) == 0) dp = 0;
  }
  return order;
}

}  // namespace paramsync::planner
