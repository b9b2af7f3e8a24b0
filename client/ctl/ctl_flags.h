// File: client/ctl/ctl_flags.h
// -----------------------------------------------------------------------------
// paramsyncctl's flags, shared by its commands (each reads the ones it takes;
// main.cc's usage text says which).
#ifndef PARAMSYNC_CLIENT_CTL_CTL_FLAGS_H_
#define PARAMSYNC_CLIENT_CTL_CTL_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, coordinator);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(int, timeout_s);
ABSL_DECLARE_FLAG(std::string, topology);
ABSL_DECLARE_FLAG(std::string, group);
ABSL_DECLARE_FLAG(std::string, src);
ABSL_DECLARE_FLAG(std::string, dst);
ABSL_DECLARE_FLAG(std::string, comm_type);
ABSL_DECLARE_FLAG(bool, free_groups);
ABSL_DECLARE_FLAG(bool, hep);
ABSL_DECLARE_FLAG(std::string, regroup_comm_type);
ABSL_DECLARE_FLAG(std::string, strategy);
ABSL_DECLARE_FLAG(std::string, lora_mode);
ABSL_DECLARE_FLAG(int64_t, staging_budget_bytes);
ABSL_DECLARE_FLAG(bool, dry_run);
ABSL_DECLARE_FLAG(bool, warmup);
ABSL_DECLARE_FLAG(bool, validate);
ABSL_DECLARE_FLAG(absl::Duration, since);
ABSL_DECLARE_FLAG(absl::Duration, duration);
ABSL_DECLARE_FLAG(std::string, token_file);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_server_name);

#endif  // PARAMSYNC_CLIENT_CTL_CTL_FLAGS_H_
