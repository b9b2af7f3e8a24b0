#include "coordinator/planner/send_recv_mapping.h"

#include <algorithm>

namespace paramsync::planner {

int SendRecvMapping::IndexOf(int sender) const {
  if (sender < 0) {
    auto it = index_of_negative_sender_.find(sender);
    return it == index_of_negative_sender_.end() ? -1 : it->second;
  }
  return static_cast<size_t>(sender) < index_by_rank_.size() ? index_by_rank_[sender] : -1;
}

void SendRecvMapping::Add(int sender, int receiver) {
  int index = IndexOf(sender);
  if (index < 0) {
    index = static_cast<int>(senders_.size());
    if (sender < 0) {
      index_of_negative_sender_[sender] = index;
    } else {
      if (static_cast<size_t>(sender) >= index_by_rank_.size()) {
        // Geometric growth: senders usually arrive in rising rank order.
        index_by_rank_.resize(std::max<size_t>(sender + 1, 2 * index_by_rank_.size()), -1);
      }
      index_by_rank_[sender] = index;
    }
    senders_.push_back(sender);
    // Room for a few receivers in one allocation (malloc's smallest chunk
    // holds 4 ints anyway): most senders have 1 to 4.
    receivers_.emplace_back().reserve(4);
  }
  receivers_[index].push_back(receiver);
  ++num_pairs_;
}

const std::vector<int>& SendRecvMapping::ReceiversOf(int sender) const {
  static const std::vector<int>* const kNone = new std::vector<int>();
  const int index = IndexOf(sender);
  return index < 0 ? *kNone : receivers_[index];
}

std::vector<std::pair<int, int>> SendRecvMapping::Pairs() const {
  std::vector<std::pair<int, int>> pairs;
  pairs.reserve(num_pairs_);
  for (size_t i = 0; i < senders_.size(); ++i) {
    for (int receiver : receivers_[i]) pairs.emplace_back(senders_[i], receiver);
  }
  return pairs;
}

}  // namespace paramsync::planner
