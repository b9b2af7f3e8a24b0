// File: agent/transport/nccl/nccl_status.h
// -----------------------------------------------------------------------------
// NCCL and CUDA results as absl::Status, with codes that carry retry meaning:
// remote errors are UNAVAILABLE (a peer died: retry after it is back), usage
// errors FAILED_PRECONDITION (fix the call), CUDA and system errors INTERNAL.
#ifndef PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_STATUS_H_
#define PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_STATUS_H_

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace paramsync::agent {

absl::Status NcclToStatus(ncclResult_t result, absl::string_view what);
absl::Status CudaToStatus(cudaError_t error, absl::string_view what);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_STATUS_H_
