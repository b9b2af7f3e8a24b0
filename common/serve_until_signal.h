// File: common/serve_until_signal.h
// -----------------------------------------------------------------------------
// The tail of both daemons' main(): open the plaintext health port
// (--health_listen, see common/health_listener.h), publish the bound address,
// wait for SIGTERM or SIGINT, shut down in order.
#ifndef PARAMSYNC_COMMON_SERVE_UNTIL_SIGNAL_H_
#define PARAMSYNC_COMMON_SERVE_UNTIL_SIGNAL_H_

#include <functional>
#include <string>

#include "common/signal_waiter.h"

namespace paramsync {

// Opens the --health_listen port (when set), writes `address` to
// `address_file` (when set), blocks until a signal arrives, then closes the
// health port and calls `shutdown`. Returns the process exit code: 0, or 1
// when the health port cannot listen or the address file cannot be written.
int ServeUntilSignal(SignalWaiter& signals, const std::string& address,
                     const std::string& address_file, const std::function<void()>& shutdown);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_SERVE_UNTIL_SIGNAL_H_
