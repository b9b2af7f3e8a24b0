#include "common/daemon_init.h"

#include <glog/logging.h>

#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"

namespace paramsync {

void InitDaemon(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace paramsync
