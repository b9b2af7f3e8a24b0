#include "coordinator/state/state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/status_message.h"

namespace paramsync::coordinator {
namespace {

constexpr absl::string_view kMagic = "paramsync-coordinator-state";
constexpr int kFormatVersion = 1;
// Longer than any header this coordinator writes; a file without a newline this
// early is not a state file.
constexpr size_t kMaxHeaderBytes = 128;

// CRC-32 (IEEE 802.3, as zlib computes it).
uint32_t Crc32(absl::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

absl::Status Corrupt(absl::string_view problem) { return absl::DataLossError(problem); }

// Versions must be consistent for a restarted coordinator to continue from them.
absl::Status CheckConsistent(const v1::CoordinatorState& state) {
  std::set<std::string> names;
  for (const v1::SyncGroupState& group : state.groups()) {
    const std::string& name = group.spec().name();
    if (name.empty()) return Corrupt("a group has no name");
    if (!names.insert(name).second) {
      return Corrupt(absl::StrCat("group '", name, "' appears twice"));
    }
    if (group.committed_version() < 0 || group.issued_version() < group.committed_version()) {
      return Corrupt(absl::StrCat("group '", name, "' has committed version ",
                                  group.committed_version(), " and issued version ",
                                  group.issued_version(), "; need 0 <= committed <= issued"));
    }
    int64_t previous = 0;
    for (const v1::SyncResponse& sync : group.history()) {
      if (sync.version() <= previous || sync.version() > group.committed_version()) {
        return Corrupt(absl::StrCat("group '", name, "' has a history entry of version ",
                                    sync.version(), " after version ", previous,
                                    "; entries must ascend up to the committed version ",
                                    group.committed_version()));
      }
      previous = sync.version();
    }
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(int fd) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return absl::ErrnoToStatus(errno, "fstat");
  if (!S_ISREG(info.st_mode)) return absl::FailedPreconditionError("not a regular file");
  if (static_cast<uint64_t>(info.st_size) > StateFile::kMaxFileBytes) {
    return Corrupt(absl::StrCat("it is ", info.st_size, " bytes, more than a state file can be (",
                                StateFile::kMaxFileBytes, ")"));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "read");
    if (n == 0) break;  // Shrank meanwhile: the checks below refuse it.
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

std::string Directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// `status` with "state file <path>: " before its message.
absl::Status Named(const std::string& path, const absl::Status& status) {
  return WithMessage(status, absl::StrCat("state file ", path, ": ", status.message()));
}

}  // namespace

std::string StateFile::Encode(const v1::CoordinatorState& state) {
  std::string payload;
  state.SerializeToString(&payload);
  return absl::StrCat(
      absl::StrFormat("%s %d %u %08x\n", kMagic, kFormatVersion, payload.size(), Crc32(payload)),
      payload);
}

absl::StatusOr<v1::CoordinatorState> StateFile::Decode(absl::string_view bytes) {
  if (bytes.empty()) return Corrupt("it is empty");
  const size_t newline = bytes.substr(0, kMaxHeaderBytes).find('\n');
  const std::vector<absl::string_view> header = newline == absl::string_view::npos
                                                    ? std::vector<absl::string_view>()
                                                    : absl::StrSplit(bytes.substr(0, newline), ' ');
  if (header.size() != 4 || header[0] != kMagic) {
    return Corrupt(absl::StrCat("not a paramsync coordinator state file (its first line is not '",
                                kMagic, " <format> <bytes> <crc32>')"));
  }
  int format = 0;
  uint64_t size = 0;
  uint32_t crc = 0;
  if (!absl::SimpleAtoi(header[1], &format) || !absl::SimpleAtoi(header[2], &size) ||
      header[3].size() != 8 || !absl::SimpleHexAtoi(header[3], &crc)) {
    return Corrupt(absl::StrCat("malformed header '", bytes.substr(0, newline), "'"));
  }
  if (format != kFormatVersion) {
    return Corrupt(absl::StrCat("format version ", format, "; this coordinator reads version ",
                                kFormatVersion));
  }
  const absl::string_view payload = bytes.substr(newline + 1);
  if (payload.size() != size) {
    return Corrupt(absl::StrCat("truncated or overwritten: the header promises ", size,
                                " bytes of state, ", payload.size(), " follow"));
  }
  if (Crc32(payload) != crc) {
    return Corrupt(
        absl::StrFormat("checksum mismatch (header %08x, contents %08x)", crc, Crc32(payload)));
  }
  v1::CoordinatorState state;
  if (!state.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Corrupt("its state does not parse");
  }
  RETURN_IF_ERROR(CheckConsistent(state));
  return state;
}

absl::StatusOr<std::unique_ptr<StateFile>> StateFile::Open(const std::string& path,
                                                           size_t history_limit) {
  if (path.empty()) return absl::InvalidArgumentError("the state file path is empty");
  const std::string lock_path = path + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return Named(path, absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", lock_path)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(lock_fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state file ", path, " is in use by another coordinator (", lock_path, " is locked)"));
    }
    return Named(path, absl::ErrnoToStatus(error, absl::StrCat("cannot lock ", lock_path)));
  }
  // Owns lock_fd from here.
  std::unique_ptr<StateFile> file(new StateFile(path, history_limit, lock_fd));
  absl::MutexLock lock(&file->mu_);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) return Named(path, absl::ErrnoToStatus(errno, "cannot open"));
    // First start: no groups yet.
    RETURN_IF_ERROR(file->WriteLocked());
    return file;
  }
  absl::StatusOr<std::string> bytes = ReadAll(fd);
  ::close(fd);
  if (!bytes.ok()) return Named(path, bytes.status());
  absl::StatusOr<v1::CoordinatorState> state = Decode(*bytes);
  if (!state.ok()) {
    return Named(path, absl::Status(state.status().code(),
                                    absl::StrCat(state.status().message(),
                                                 "; restore it from a backup, or move it away to "
                                                 "start with no groups (versions restart at 1)")));
  }
  for (v1::SyncGroupState& group : *state->mutable_groups()) {
    const int excess = group.history_size() - static_cast<int>(history_limit);
    if (excess > 0) group.mutable_history()->DeleteSubrange(0, excess);
    std::string name = group.spec().name();
    file->groups_[name] = std::move(group);
  }
  return file;
}

StateFile::~StateFile() { ::close(lock_fd_); }

std::vector<v1::SyncGroupState> StateFile::Groups() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::SyncGroupState> out;
  for (const auto& [name, group] : groups_) out.push_back(group);
  return out;
}

absl::Status StateFile::Put(v1::SyncGroupState group) {
  const int excess = group.history_size() - static_cast<int>(history_limit_);
  if (excess > 0) group.mutable_history()->DeleteSubrange(0, excess);
  const std::string name = group.spec().name();
  absl::MutexLock lock(&mu_);
  std::optional<v1::SyncGroupState> previous;
  if (auto it = groups_.find(name); it != groups_.end()) previous = it->second;
  groups_[name] = std::move(group);
  absl::Status written = WriteLocked();
  if (!written.ok()) {
    if (previous.has_value()) {
      groups_[name] = *std::move(previous);
    } else {
      groups_.erase(name);
    }
  }
  return written;
}

absl::Status StateFile::WriteLocked() {
  v1::CoordinatorState state;
  for (const auto& [name, group] : groups_) *state.add_groups() = group;
  const std::string bytes = Encode(state);
  const std::string temporary = path_ + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Named(path_, absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", temporary)));
  }
  absl::Status status = WriteAll(fd, bytes);
  if (status.ok() && ::fsync(fd) != 0) status = absl::ErrnoToStatus(errno, "fsync");
  if (::close(fd) != 0 && status.ok()) status = absl::ErrnoToStatus(errno, "close");
  if (status.ok() && ::rename(temporary.c_str(), path_.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("rename to ", path_));
  }
  if (!status.ok()) {
    ::unlink(temporary.c_str());
    return Named(path_, absl::Status(status.code(),
                                     absl::StrCat("writing ", temporary, ": ", status.message())));
  }
  // The rename is durable only once the directory is.
  const std::string directory = Directory(path_);
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return Named(path_, absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", directory)));
  }
  if (::fsync(dir_fd) != 0) status = absl::ErrnoToStatus(errno, absl::StrCat("fsync ", directory));
  ::close(dir_fd);
  return status.ok() ? status : Named(path_, status);
}

}  // namespace paramsync::coordinator
