#include "coordinator/planner/send_recv_mapping.h"

namespace paramsync::planner {

void SendRecvMapping::Add(int sender, int receiver) {
  auto [it, inserted] = index_of_sender_.emplace(sender, senders_.size());
  if (inserted) {
    senders_.push_back(sender);
    receivers_.emplace_back();
  }
  receivers_[it->second].push_back(receiver);
}

const std::vector<int>& SendRecvMapping::ReceiversOf(int sender) const {
  static const std::vector<int>* const kNone = new std::vector<int>();
  auto it = index_of_sender_.find(sender);
  return it == index_of_sender_.end() ? *kNone : receivers_[it->second];
}

std::vector<std::pair<int, int>> SendRecvMapping::Pairs() const {
  std::vector<std::pair<int, int>> pairs;
  for (size_t i = 0; i < senders_.size(); ++i) {
    for (int receiver : receivers_[i]) pairs.emplace_back(senders_[i], receiver);
  }
  return pairs;
}

}  // namespace paramsync::planner
