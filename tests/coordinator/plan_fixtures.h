// File: tests/coordinator/plan_fixtures.h
// -----------------------------------------------------------------------------
// What the planning tests plan for: bf16 parameters, the endpoints of a small
// transformer-shaped model and the agents that hold them.
#ifndef PARAMSYNC_TESTS_COORDINATOR_PLAN_FIXTURES_H_
#define PARAMSYNC_TESTS_COORDINATOR_PLAN_FIXTURES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "coordinator/sync/sync_participants.h"

namespace paramsync::coordinator::testing {

// A bf16 parameter of local shape `shape`, TP-split along `split` (none: whole).
v1::ParameterSpec Param(const std::string& name, std::vector<int64_t> shape,
                        std::optional<int> split);

// A model of `tp` x `replicas` ranks (trainer: data-parallel replicas), one
// agent each from "agent-<first_agent>": a column-parallel weight "qkv" [16, 8]
// (dim 0), a row-parallel weight "proj" [8, 16] (dim 1) and a replicated
// "norm" [8], as each rank holds them.
std::vector<EndpointRecord> Model(const std::string& model, bool trainer, int tp, int replicas,
                                  int first_agent);

// Agents "agent-0" .. "agent-<count - 1>", host agents of one node.
absl::flat_hash_map<std::string, v1::AgentInfo> Agents(int count);

}  // namespace paramsync::coordinator::testing

#endif  // PARAMSYNC_TESTS_COORDINATOR_PLAN_FIXTURES_H_
