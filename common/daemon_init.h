// File: common/daemon_init.h
// -----------------------------------------------------------------------------
// The start of both daemons' main(): flags, then the --config file (see
// common/config_file.h) under them, logging to stderr (systemd and
// Kubernetes collect it), and Abseil's mutex deadlock detection off: Debian's
// Abseil is built with it on, and it keeps a lock graph on every acquisition,
// a few percent of a busy coordinator's CPU for a check that belongs in tests.
#ifndef PARAMSYNC_COMMON_DAEMON_INIT_H_
#define PARAMSYNC_COMMON_DAEMON_INIT_H_

namespace paramsync {

// Parses the command line; with --config=PATH, sets the flags the file names
// and parses the command line again, so flags given there (or in a
// --flagfile) win: defaults < config file < command line. A config file that
// cannot be read or has a bad line ends the process with exit status 2 after
// printing "PATH:LINE: reason" for each bad line to stderr.
void InitDaemon(int argc, char** argv);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_DAEMON_INIT_H_
