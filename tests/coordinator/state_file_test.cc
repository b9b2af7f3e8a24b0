// The coordinator's state file: round trips, atomic replacement, refusal of
// corrupt files (naming them), bounded history and the one-coordinator lock.
#include "coordinator/state/state_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace paramsync::coordinator {
namespace {

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/state-XXXXXX");
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

v1::SyncGroupState Group(const std::string& name, int64_t committed, int64_t issued, int history) {
  v1::SyncGroupState group;
  group.mutable_spec()->set_name(name);
  group.mutable_spec()->set_src_model("trainer");
  group.mutable_spec()->set_dst_model("vllm");
  group.set_committed_version(committed);
  group.set_issued_version(issued);
  for (int64_t v = committed - history + 1; v <= committed; ++v) {
    v1::SyncResponse* sync = group.add_history();
    sync->set_version(v);
    sync->set_bytes(1000 + v);
    sync->set_duration_ms(1.5 * static_cast<double>(v));
  }
  return group;
}

TEST_CASE("A state round-trips through the file", "[state_file]") {
  const std::string path = TempDir() + "/state";
  {
    absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 64);
    INFO(file.status().ToString());
    REQUIRE(file.ok());
    CHECK((*file)->Groups().empty());
    CHECK(Exists(path));  // Written at once: an unwritable location fails at start.
    REQUIRE((*file)->Put(Group("a", 2, 2, 2)).ok());
    REQUIRE((*file)->Put(Group("b", 5, 7, 3)).ok());
    REQUIRE((*file)->Put(Group("a", 3, 3, 3)).ok());  // Replaces "a".
  }
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 64);
  INFO(file.status().ToString());
  REQUIRE(file.ok());
  const std::vector<v1::SyncGroupState> groups = (*file)->Groups();
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].SerializeAsString() == Group("a", 3, 3, 3).SerializeAsString());
  CHECK(groups[1].SerializeAsString() == Group("b", 5, 7, 3).SerializeAsString());
  CHECK(groups[1].history(2).duration_ms() == 7.5);
  CHECK_FALSE(Exists(path + ".tmp"));
}

TEST_CASE("The file is replaced whole, never rewritten in place", "[state_file]") {
  const std::string path = TempDir() + "/state";
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 64);
  REQUIRE(file.ok());
  REQUIRE((*file)->Put(Group("a", 1, 1, 1)).ok());
  const std::string before = ReadFile(path);
  struct stat old_info;
  REQUIRE(stat(path.c_str(), &old_info) == 0);
  std::ifstream old_reader(path, std::ios::binary);  // Opened before the write.
  // A temporary left by a crash mid-write is simply replaced.
  WriteFile(path + ".tmp", "half a state");
  REQUIRE((*file)->Put(Group("a", 2, 2, 2)).ok());
  struct stat new_info;
  REQUIRE(stat(path.c_str(), &new_info) == 0);
  CHECK(new_info.st_ino != old_info.st_ino);  // Renamed over, not truncated.
  std::stringstream old_bytes;
  old_bytes << old_reader.rdbuf();
  CHECK(old_bytes.str() == before);  // A reader of the old file sees all of it.
  CHECK(StateFile::Decode(old_bytes.str()).ok());
  CHECK_FALSE(Exists(path + ".tmp"));

  // A write that fails leaves the previous state, on disk and in memory.
  REQUIRE(mkdir((path + ".tmp").c_str(), 0755) == 0);
  const absl::Status failed = (*file)->Put(Group("a", 3, 3, 3));
  INFO(failed.ToString());
  CHECK_FALSE(failed.ok());
  CHECK(absl::StrContains(failed.message(), path));
  const absl::Status failed_new = (*file)->Put(Group("b", 1, 1, 1));
  CHECK_FALSE(failed_new.ok());
  REQUIRE((*file)->Groups().size() == 1);
  CHECK((*file)->Groups()[0].committed_version() == 2);
  absl::StatusOr<v1::CoordinatorState> on_disk = StateFile::Decode(ReadFile(path));
  REQUIRE(on_disk.ok());
  REQUIRE(on_disk->groups_size() == 1);
  CHECK(on_disk->groups(0).committed_version() == 2);
  REQUIRE(rmdir((path + ".tmp").c_str()) == 0);
  REQUIRE((*file)->Put(Group("a", 3, 3, 3)).ok());
}

TEST_CASE("A corrupt or unreadable state file is refused, naming it", "[state_file]") {
  const std::string dir = TempDir();
  const std::string path = dir + "/state";
  v1::CoordinatorState state;
  *state.add_groups() = Group("a", 4, 4, 4);
  const std::string good = StateFile::Encode(state);
  REQUIRE(StateFile::Decode(good).ok());

  v1::CoordinatorState inconsistent;
  *inconsistent.add_groups() = Group("a", 4, 3, 1);  // Issued below committed.
  v1::CoordinatorState twice;
  *twice.add_groups() = Group("a", 1, 1, 1);
  *twice.add_groups() = Group("a", 2, 2, 1);
  v1::CoordinatorState history;
  *history.add_groups() = Group("a", 4, 4, 2);
  history.mutable_groups(0)->mutable_history(1)->set_version(9);  // Beyond committed.

  std::string flipped = good;
  flipped.back() ^= 0x20;
  std::string bad_format = good;
  bad_format.replace(bad_format.find(" 1 "), 3, " 2 ");
  const struct {
    const char* what;
    std::string bytes;
    const char* problem;
  } cases[] = {
      {"empty", "", "empty"},
      {"another file", "hello\nworld\n", "not a paramsync coordinator state file"},
      {"no newline", std::string(4096, 'x'), "not a paramsync coordinator state file"},
      {"truncated", good.substr(0, good.size() - 1), "truncated"},
      {"extended", good + "x", "truncated or overwritten"},
      {"flipped bit", flipped, "checksum mismatch"},
      {"newer format", bad_format, "format version 2"},
      {"malformed header", "paramsync-coordinator-state 1 ten 00000000\n", "malformed header"},
      {"inconsistent versions", StateFile::Encode(inconsistent), "committed <= issued"},
      {"a group twice", StateFile::Encode(twice), "appears twice"},
      {"history past the version", StateFile::Encode(history), "history entry of version 9"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      WriteFile(path, c.bytes);
      absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 64);
      INFO(file.status().ToString());
      REQUIRE_FALSE(file.ok());
      CHECK(file.status().code() == absl::StatusCode::kDataLoss);
      CHECK(absl::StrContains(file.status().message(), absl::StrCat("state file ", path)));
      CHECK(absl::StrContains(file.status().message(), c.problem));
      CHECK(ReadFile(path) == c.bytes);  // Left as it was, for the operator.
    }
  }
  SECTION("a directory") {
    REQUIRE(mkdir(path.c_str(), 0755) == 0);
    absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 64);
    INFO(file.status().ToString());
    REQUIRE_FALSE(file.ok());
    CHECK(absl::StrContains(file.status().message(), path));
    CHECK(absl::StrContains(file.status().message(), "not a regular file"));
  }
  SECTION("a missing directory") {
    const std::string nowhere = dir + "/missing/state";
    absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(nowhere, 64);
    INFO(file.status().ToString());
    REQUIRE_FALSE(file.ok());
    CHECK(absl::StrContains(file.status().message(), nowhere));
  }
}

TEST_CASE("Histories keep their newest entries, up to the limit", "[state_file]") {
  const std::string path = TempDir() + "/state";
  {
    absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 64);
    REQUIRE(file.ok());
    REQUIRE((*file)->Put(Group("a", 100, 100, 100)).ok());
    const v1::SyncGroupState kept = (*file)->Groups()[0];
    REQUIRE(kept.history_size() == 64);
    CHECK(kept.history(0).version() == 37);
    CHECK(kept.history(63).version() == 100);
    absl::StatusOr<v1::CoordinatorState> on_disk = StateFile::Decode(ReadFile(path));
    REQUIRE(on_disk.ok());
    CHECK(on_disk->groups(0).history_size() == 64);
  }
  // A coordinator with a smaller limit trims what it loads.
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, 10);
  REQUIRE(file.ok());
  const v1::SyncGroupState kept = (*file)->Groups()[0];
  REQUIRE(kept.history_size() == 10);
  CHECK(kept.history(0).version() == 91);
  CHECK(kept.committed_version() == 100);
}

TEST_CASE("One coordinator at a time uses a state file", "[state_file]") {
  const std::string path = TempDir() + "/state";
  absl::StatusOr<std::unique_ptr<StateFile>> first = StateFile::Open(path, 64);
  REQUIRE(first.ok());
  absl::StatusOr<std::unique_ptr<StateFile>> second = StateFile::Open(path, 64);
  INFO(second.status().ToString());
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(second.status().message(), "in use by another coordinator"));
  first->reset();
  CHECK(StateFile::Open(path, 64).ok());
}

}  // namespace
}  // namespace paramsync::coordinator
