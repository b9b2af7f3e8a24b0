// File: bench/bench_main.h
// -----------------------------------------------------------------------------
// The main() of the demo and benchmark binaries: parse flags, run, and turn a
// failed Status into a message and exit code 1.
#ifndef PARAMSYNC_BENCH_BENCH_MAIN_H_
#define PARAMSYNC_BENCH_BENCH_MAIN_H_

#include <iostream>

#include "absl/flags/parse.h"
#include "absl/status/status.h"

namespace paramsync::bench {

inline int RunMain(int argc, char** argv, const char* name, absl::Status (*run)()) {
  absl::ParseCommandLine(argc, argv);
  absl::Status status = run();
  if (!status.ok()) {
    std::cerr << name << " failed: " << status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_BENCH_MAIN_H_
