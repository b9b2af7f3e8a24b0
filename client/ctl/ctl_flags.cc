#include "client/ctl/ctl_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator host:port");
ABSL_FLAG(std::string, output, "table", "output format: table or json");
ABSL_FLAG(int, timeout_s, 300, "deadline of each call to the coordinator, in seconds");
ABSL_FLAG(std::string, topology, "", "plan: topology JSON file (golden case format)");
ABSL_FLAG(std::string, group, "", "sync group name");
ABSL_FLAG(std::string, src, "", "create-group: trainer model");
ABSL_FLAG(std::string, dst, "", "create-group: inference model");
ABSL_FLAG(std::string, comm_type, "broadcast", "create-group: broadcast or p2p");
ABSL_FLAG(bool, free_groups, false,
          "create-group: destroy the agents' collective groups after every sync");
ABSL_FLAG(bool, hep, false, "create-group: hyper expert parallel (regroup routed experts)");
ABSL_FLAG(std::string, regroup_comm_type, "alltoall",
          "create-group: how HEP trainers regroup experts, alltoall or allgather");
ABSL_FLAG(std::string, strategy, "chatlearn",
          "create-group: how syncs are planned: chatlearn (the seed's plan) or direct (any "
          "layout to any other; each inference rank receives exactly its bytes)");
ABSL_FLAG(std::string, lora_mode, "merge",
          "create-group: what the trainer's LoRA adapters do in a sync: merge (merged into their "
          "base weights for the sync, restored after) or adapters_only (only adapters sync)");
ABSL_FLAG(int64_t, staging_budget_bytes, 0,
          "create-group: staging per endpoint (0: 256 MiB; negative: unbounded)");
ABSL_FLAG(bool, dry_run, false, "sync: set up the collective groups only, move no data");
ABSL_FLAG(bool, warmup, false, "sync: exercise every transfer once without tensors first");
ABSL_FLAG(bool, validate, false,
          "sync: before the commit, check every destination tensor against its source by "
          "digests; create-group: do so in every sync of the group");
ABSL_FLAG(absl::Duration, since, absl::ZeroDuration(),
          "watch: first replay the events of this long ago the coordinator still holds, e.g. 10m");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "watch: stop after this long, e.g. 30s (0: follow until interrupted)");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token (default: $PARAMSYNC_TOKEN_FILE)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA verifying the coordinator; dials TLS (default: $PARAMSYNC_TLS_CA)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (default: $PARAMSYNC_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert (default: $PARAMSYNC_TLS_KEY)");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to verify in the coordinator's certificate (default: $PARAMSYNC_TLS_SERVER_NAME)");
