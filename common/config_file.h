// File: common/config_file.h
// -----------------------------------------------------------------------------
// A daemon's config file (`--config=PATH`): one `key = value` per line, where
// each key is the name of one of the daemon's flags and the value is what the
// flag would take on the command line. The format is the flags themselves, so
// there is one list of options, one parser per type (the flag's own) and one
// place that documents them (`--help`), and no new dependency.
//
//   # paramsync-coordinator, bare metal
//   listen = 0.0.0.0:50051
//   heartbeat_interval_ms = 1000   # a comment after whitespace
//   state_file = /var/lib/paramsync-coordinator/state
//
// The value is the rest of the line with surrounding whitespace removed; a `#`
// at the start of a line or after whitespace starts a comment; blank lines are
// ignored; an empty value is an empty string. Keys are written without the
// command line's dashes, and each may appear once. Accepted keys are the
// program's own flags: Abseil's (flagfile, fromenv, help, ...) and `config`
// are not.
//
// Every error names the file and line ("coordinator.conf:7: unknown key ..."),
// and every bad line is reported, not only the first.
//
// Example:
//   absl::Status loaded = LoadConfigFile("/etc/paramsync/coordinator.conf");
//   if (!loaded.ok()) { std::cerr << loaded.message() << "\n"; return 2; }
#ifndef PARAMSYNC_COMMON_CONFIG_FILE_H_
#define PARAMSYNC_COMMON_CONFIG_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace paramsync {

// One `key = value` line of a config file.
struct ConfigEntry {
  std::string key;
  std::string value;
  int line = 0;  // 1-based.
};

// Parses the text of the config file `path` (named in errors only). Checks the
// syntax and that no key repeats; says nothing of whether keys exist.
// INVALID_ARGUMENT with one "path:line: reason" line per bad line.
absl::StatusOr<std::vector<ConfigEntry>> ParseConfig(absl::string_view path,
                                                     absl::string_view text);

// Reads `path` and parses it. A file that cannot be read (missing, a
// directory, no permission) or is over 1 MiB fails with "path: reason"
// (NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT).
absl::StatusOr<std::vector<ConfigEntry>> ReadConfigFile(const std::string& path);

// Sets the flag each entry names to the entry's value, as if given on the
// command line. An unknown key (the message lists the known ones) or a value
// the flag's type rejects fails with INVALID_ARGUMENT, one "path:line: reason"
// line per bad entry; the flags of good entries are set all the same (a daemon
// exits on any error).
absl::Status ApplyConfig(absl::string_view path, const std::vector<ConfigEntry>& entries);

// ReadConfigFile, then ApplyConfig.
absl::Status LoadConfigFile(const std::string& path);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_CONFIG_FILE_H_
