// File: fuzz/fuzz_calls.h
// -----------------------------------------------------------------------------
// The input format of the RPC fuzz targets: a sequence of calls, each a
// selector byte (which RPC, plus target-specific bits) followed by the
// serialized request, calls separated by kCallSeparator. A separator rather
// than length prefixes, so that libFuzzer's insertions and erasures inside one
// request leave the others intact.
//
// Each target can also write its seed inputs: run the fuzzer binary with
// PARAMSYNC_FUZZ_WRITE_SEEDS=DIR set and it writes them into DIR and exits
// (fuzz/corpus/<target>/ holds them).
#ifndef PARAMSYNC_FUZZ_FUZZ_CALLS_H_
#define PARAMSYNC_FUZZ_FUZZ_CALLS_H_

#include <glog/logging.h>
#include <grpc/support/log.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"

namespace paramsync::fuzz {

inline constexpr absl::string_view kCallSeparator = "#RPC";

// Calls beyond this many are ignored: keeps one input's work bounded.
inline constexpr size_t kMaxCalls = 64;

struct Call {
  uint8_t selector = 0;
  absl::string_view request;  // Serialized request bytes; may be malformed.
};

inline std::vector<Call> SplitCalls(const uint8_t* data, size_t size) {
  std::vector<Call> calls;
  absl::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && calls.size() < kMaxCalls) {
    const size_t end = rest.find(kCallSeparator);
    const absl::string_view call = rest.substr(0, end);
    if (!call.empty()) {
      calls.push_back(Call{static_cast<uint8_t>(call[0]), call.substr(1)});
    }
    if (end == absl::string_view::npos) break;
    rest.remove_prefix(end + kCallSeparator.size());
  }
  return calls;
}

// Parses `call.request` as `message`; false (the call is skipped) when the
// bytes are not a valid serialization of it.
inline bool ParseRequest(const Call& call, google::protobuf::Message& message) {
  return message.ParseFromArray(call.request.data(), static_cast<int>(call.request.size()));
}

// Builds a seed input.
class SeedWriter {
 public:
  SeedWriter& Add(uint8_t selector, const google::protobuf::Message& request) {
    if (!input_.empty()) input_ += std::string(kCallSeparator);
    input_ += static_cast<char>(selector);
    const std::string bytes = request.SerializeAsString();
    if (absl::string_view(bytes).find(kCallSeparator) != absl::string_view::npos) {
      std::fprintf(stderr, "seed request holds the call separator\n");
      std::abort();
    }
    input_ += bytes;
    return *this;
  }
  const std::string& input() const { return input_; }

 private:
  std::string input_;
};

// When PARAMSYNC_FUZZ_WRITE_SEEDS names a folder, writes `seeds` (file name,
// input) there and exits.
inline void MaybeWriteSeeds(const std::vector<std::pair<std::string, std::string>>& seeds) {
  const char* dir = std::getenv("PARAMSYNC_FUZZ_WRITE_SEEDS");
  if (dir == nullptr || *dir == '\0') return;
  for (const auto& [name, input] : seeds) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << input;
  }
  std::fprintf(stderr, "wrote %zu seeds to %s\n", seeds.size(), dir);
  std::exit(0);
}

// Handlers log every refusal; at fuzzing rates that is all the fuzzer would do.
inline void QuietLogs() {
  FLAGS_minloglevel = google::GLOG_FATAL;
  FLAGS_logtostderr = true;
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  google::protobuf::SetLogHandler(nullptr);  // Invalid UTF-8 in string fields.
}

// A handler's status must be a status: OK or one of the codes handlers use.
// UNKNOWN would mean an exception or an unconverted error escaped.
// With PARAMSYNC_FUZZ_VERBOSE set, prints every call's status (to check what
// a seed reaches).
inline void CheckHandlerStatus(const char* rpc, const grpc::Status& status) {
  static const bool verbose = std::getenv("PARAMSYNC_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s: %d %s\n", rpc, static_cast<int>(status.error_code()),
                 status.error_message().c_str());
  }
  if (status.error_code() == grpc::StatusCode::UNKNOWN) {
    std::fprintf(stderr, "%s returned UNKNOWN: %s\n", rpc, status.error_message().c_str());
    std::abort();
  }
}

}  // namespace paramsync::fuzz

#endif  // PARAMSYNC_FUZZ_FUZZ_CALLS_H_
