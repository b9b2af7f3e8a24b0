// File: tests/integration/cluster_helpers.h
// -----------------------------------------------------------------------------
// Steps the multi-process integration tests share: start a LocalCluster, deploy
// models, create a group, and run one sync whose every received byte the
// inference processes check themselves. Each step fails the current Catch2 test
// with the status when it does not succeed.
#ifndef PARAMSYNC_TESTS_INTEGRATION_CLUSTER_HELPERS_H_
#define PARAMSYNC_TESTS_INTEGRATION_CLUSTER_HELPERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::bench {

std::unique_ptr<LocalCluster> StartCluster(int agents, const std::string& name);

std::vector<ChildProcess*> DeployOrDie(LocalCluster& cluster, const ModelDeployment& model);

v1::SyncGroupSpec GroupSpec(const std::string& name, const std::string& src, const std::string& dst,
                            v1::CommType comm_type = v1::COMM_TYPE_BROADCAST);
// A hyper expert parallel group (SyncGroupSpec.hep) regrouping with `regroup`.
v1::SyncGroupSpec HepGroupSpec(const std::string& name, const std::string& src,
                               const std::string& dst, v1::RegroupCommType regroup);
void CreateGroup(client::CoordinatorClient& coordinator, const v1::SyncGroupSpec& spec);
void CreateGroup(client::CoordinatorClient& coordinator, const std::string& name,
                 const std::string& src, const std::string& dst,
                 v1::CommType comm_type = v1::COMM_TYPE_BROADCAST);

// Trainer writes `version`, the coordinator syncs with validation (digests of
// every destination tensor against its source), every inference rank checks
// every byte and reports holding `version`. Returns the sync's report.
v1::SyncResponse SyncAndVerify(client::CoordinatorClient& coordinator, const std::string& group,
                               const std::vector<ChildProcess*>& trainer,
                               const std::vector<ChildProcess*>& inference, int64_t version,
                               int64_t expected_bytes);

// Bytes of a preset's full model.
int64_t ModelBytes(const std::string& preset);

// Bytes all inference ranks of a TP-`tp` model hold together: replicated tensors
// count once per rank.
int64_t InferenceBytes(const std::string& preset, int tp, int replicas);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_TESTS_INTEGRATION_CLUSTER_HELPERS_H_
