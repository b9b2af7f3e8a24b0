// File: tests/reshard/check_status.h
// -----------------------------------------------------------------------------
// A Catch2 check that a status has a code and a message naming what it must.
#ifndef PARAMSYNC_TESTS_RESHARD_CHECK_STATUS_H_
#define PARAMSYNC_TESTS_RESHARD_CHECK_STATUS_H_

#include <catch2/catch.hpp>
#include <string>

#include "absl/status/status.h"

namespace paramsync::coordinator::testing {

inline void CheckError(const absl::Status& status, absl::StatusCode code,
                       const std::string& needle) {
  INFO(status.ToString());
  CHECK(status.code() == code);
  CHECK(std::string(status.message()).find(needle) != std::string::npos);
}

}  // namespace paramsync::coordinator::testing

#endif  // PARAMSYNC_TESTS_RESHARD_CHECK_STATUS_H_
