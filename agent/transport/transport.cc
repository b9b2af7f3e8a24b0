#include "agent/transport/transport.h"

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

const GroupMemberAddress* GroupView::Member(int sync_rank) const {
  for (const GroupMemberAddress& member : members) {
    if (member.sync_rank == sync_rank) return &member;
  }
  return nullptr;
}

std::string ToString(const TransferKey& key) {
  return absl::StrCat("sync ", key.sync_id, " task ", key.task_id, " to rank ",
                      key.receiver_sync_rank);
}

}  // namespace paramsync::agent
