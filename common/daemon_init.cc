#include "common/daemon_init.h"

#include <glog/logging.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "common/config_file.h"

ABSL_FLAG(std::string, config, "",
          "read options from this file: `flag_name = value` lines, # comments; flags given on "
          "the command line (or in a --flagfile) win over it; a bad file stops the start "
          "(exit status 2) naming its lines");

namespace paramsync {

void InitDaemon(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string config = absl::GetFlag(FLAGS_config);
  if (!config.empty()) {
    const absl::Status loaded = LoadConfigFile(config);
    if (!loaded.ok()) {
      std::cerr << loaded.message() << "\n";
      std::exit(2);
    }
    // Parsed again so that what the command line says wins over the file.
    absl::ParseCommandLine(argc, argv);
  }
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace paramsync
