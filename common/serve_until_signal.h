// File: common/serve_until_signal.h
// -----------------------------------------------------------------------------
// The tail of both daemons' main(): publish the bound address, wait for SIGTERM
// or SIGINT, shut down in order.
#ifndef PARAMSYNC_COMMON_SERVE_UNTIL_SIGNAL_H_
#define PARAMSYNC_COMMON_SERVE_UNTIL_SIGNAL_H_

#include <functional>
#include <string>

#include "common/signal_waiter.h"

namespace paramsync {

// Writes `address` to `address_file` (when set), blocks until a signal arrives,
// then calls `shutdown`. Returns the process exit code: 0, or 1 when the address
// file cannot be written.
int ServeUntilSignal(SignalWaiter& signals, const std::string& address,
                     const std::string& address_file, const std::function<void()>& shutdown);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_SERVE_UNTIL_SIGNAL_H_
