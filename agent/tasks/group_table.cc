#include "agent/tasks/group_table.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace paramsync::agent {

const v1::GroupMember* CollectiveGroup::Member(int sync_rank) const {
  for (const v1::GroupMember& member : spec.members()) {
    if (member.sync_rank() == sync_rank) return &member;
  }
  return nullptr;
}

absl::Status GroupTable::Setup(const v1::CollectiveGroupSpec& spec) {
  if (spec.name().empty()) return absl::InvalidArgumentError("group name must not be empty");
  if (spec.members().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("group ", spec.name(), " has no members"));
  }
  absl::flat_hash_set<int> ranks;
  auto group = std::make_shared<CollectiveGroup>();
  group->spec = spec;
  group->view.name = spec.name();
  group->view.nccl_unique_id = spec.nccl_unique_id();
  for (const v1::GroupMember& member : spec.members()) {
    if (!ranks.insert(member.sync_rank()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("group ", spec.name(), " lists sync rank ", member.sync_rank(), " twice"));
    }
    if (member.agent_address().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("group ", spec.name(), ": member ",
                                                     member.sync_rank(), " has no agent_address"));
    }
    group->view.members.push_back(GroupMemberAddress{
        member.sync_rank(), member.agent_id(), member.agent_address(), member.data_address()});
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(spec.name());
    if (it != groups_.end() &&
        google::protobuf::util::MessageDifferencer::Equals(it->second->spec, spec)) {
      return absl::OkStatus();
    }
  }
  const absl::Time start = absl::Now();
  absl::Status status = transport_->SetupGroup(group->view);
  if (metrics_ != nullptr) metrics_->RecordGroupSetup(absl::Now() - start, status);
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  groups_[spec.name()] = std::move(group);
  if (metrics_ != nullptr) metrics_->SetCollectiveGroups(groups_.size());
  return absl::OkStatus();
}

absl::Status GroupTable::SetupAll(
    const google::protobuf::RepeatedPtrField<v1::CollectiveGroupSpec>& specs) {
  // Bounded: each setup parks a thread while its members join.
  constexpr int kConcurrency = 32;
  std::vector<absl::Status> results(specs.size());
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < specs.size(); i = next++) results[i] = Setup(specs[i]);
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::min(kConcurrency, specs.size()); ++t) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const CollectiveGroup>> GroupTable::Find(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(name);
  if (it == groups_.end()) {
    return absl::NotFoundError(absl::StrCat("collective group ", name, " is not set up here"));
  }
  return it->second;
}

void GroupTable::Destroy(const std::vector<std::string>& names) {
  std::vector<std::string> destroyed;
  {
    absl::MutexLock lock(&mu_);
    if (names.empty()) {
      for (const auto& [name, group] : groups_) destroyed.push_back(name);
      groups_.clear();
    } else {
      for (const std::string& name : names) {
        if (groups_.erase(name) > 0) destroyed.push_back(name);
      }
    }
    if (metrics_ != nullptr) metrics_->SetCollectiveGroups(groups_.size());
  }
  for (const std::string& name : destroyed) transport_->DestroyGroup(name);
}

size_t GroupTable::size() const {
  absl::MutexLock lock(&mu_);
  return groups_.size();
}

}  // namespace paramsync::agent
