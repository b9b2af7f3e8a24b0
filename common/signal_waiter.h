// File: common/signal_waiter.h
// -----------------------------------------------------------------------------
// Clean shutdown for the daemons: construct a SignalWaiter first thing in main(),
// before any thread starts (threads inherit the blocked mask), then Wait() for
// SIGTERM or SIGINT on the main thread and shut down in order.
#ifndef PARAMSYNC_COMMON_SIGNAL_WAITER_H_
#define PARAMSYNC_COMMON_SIGNAL_WAITER_H_

#include <csignal>

namespace paramsync {

class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }

  // Blocks until SIGTERM or SIGINT arrives; returns the signal number.
  int Wait() {
    int signal = 0;
    sigwait(&signals_, &signal);
    return signal;
  }

 private:
  sigset_t signals_;
};

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_SIGNAL_WAITER_H_
