// File: agent/transport/nccl/cuda_stream.h
// -----------------------------------------------------------------------------
// The agent's own CUDA streams: non-blocking, so that they never serialize with
// the framework process's default stream on the same GPU.
#ifndef PARAMSYNC_AGENT_TRANSPORT_NCCL_CUDA_STREAM_H_
#define PARAMSYNC_AGENT_TRANSPORT_NCCL_CUDA_STREAM_H_

#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace paramsync::agent {

// A new non-blocking stream on `device`; FAILED_PRECONDITION when the device is
// not usable. The caller destroys it.
absl::StatusOr<cudaStream_t> CreateAgentStream(int device);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_NCCL_CUDA_STREAM_H_
