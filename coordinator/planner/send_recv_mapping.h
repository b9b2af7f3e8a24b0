// File: coordinator/planner/send_recv_mapping.h
// -----------------------------------------------------------------------------
// Receivers per sender, kept in the order senders first appear and receivers are
// added: the seed's defaultdict(list) of actor mappings, whose iteration order
// decides group names (receiver lists) and the stage-2 grouping.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_SEND_RECV_MAPPING_H_
#define PARAMSYNC_COORDINATOR_PLANNER_SEND_RECV_MAPPING_H_

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

namespace paramsync::planner {

class SendRecvMapping {
 public:
  void Add(int sender, int receiver);

  bool empty() const { return senders_.empty(); }
  // Senders in first-added order.
  const std::vector<int>& senders() const { return senders_; }
  // Receivers of `sender` in added order; empty for an unknown sender.
  const std::vector<int>& ReceiversOf(int sender) const;
  // Every (sender, receiver), grouped by sender.
  std::vector<std::pair<int, int>> Pairs() const;

 private:
  // Index of `sender` in senders_, or -1.
  int IndexOf(int sender) const;

  std::vector<int> senders_;
  std::vector<std::vector<int>> receivers_;  // Parallel to senders_.
  size_t num_pairs_ = 0;
  // Index in senders_ by rank (-1: not a sender): ranks are dense, 0 .. n-1.
  std::vector<int> index_by_rank_;
  std::map<int, int> index_of_negative_sender_;  // Never used by the planner.
};

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SEND_RECV_MAPPING_H_
