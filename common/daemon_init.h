// File: common/daemon_init.h
// -----------------------------------------------------------------------------
// The start of both daemons' main(): flags, logging to stderr (systemd and
// Kubernetes collect it), and Abseil's mutex deadlock detection off: Debian's
// Abseil is built with it on, and it keeps a lock graph on every acquisition,
// a few percent of a busy coordinator's CPU for a check that belongs in tests.
#ifndef PARAMSYNC_COMMON_DAEMON_INIT_H_
#define PARAMSYNC_COMMON_DAEMON_INIT_H_

namespace paramsync {

void InitDaemon(int argc, char** argv);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_DAEMON_INIT_H_
