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
  std::vector<int> senders_;
  std::vector<std::vector<int>> receivers_;  // Parallel to senders_.
  std::map<int, size_t> index_of_sender_;
};

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SEND_RECV_MAPPING_H_
