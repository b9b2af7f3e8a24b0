// File: common/status_message.h
// -----------------------------------------------------------------------------
// Rewording a status without losing what travels with it: payloads carry
// machine-readable facts (e.g. the agent a failure blames) that a new
// absl::Status built from code and message alone would drop.
#ifndef PARAMSYNC_COMMON_STATUS_MESSAGE_H_
#define PARAMSYNC_COMMON_STATUS_MESSAGE_H_

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace paramsync {

// `status` with `message` instead of its own, keeping its code and payloads.
// OK stays OK.
inline absl::Status WithMessage(const absl::Status& status, absl::string_view message) {
  if (status.ok()) return status;
  absl::Status reworded(status.code(), message);
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& value) { reworded.SetPayload(url, value); });
  return reworded;
}

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_STATUS_MESSAGE_H_
