// File: agent/data_plane.h
// -----------------------------------------------------------------------------
// What an agent moves bytes with, for the kind of device it serves: the memory
// its tensors live in, how framework tensors are mapped, the inbox of local
// deliveries and the transport between agents. Members are declared so that
// they are destroyed transport first, memory last.
#ifndef PARAMSYNC_AGENT_DATA_PLANE_H_
#define PARAMSYNC_AGENT_DATA_PLANE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/memory/memory_ops.h"
#include "agent/tensors/ipc_mapper.h"
#include "agent/transport/host_transport.h"
#include "agent/transport/inbox.h"
#include "agent/transport/transport.h"

namespace paramsync::agent {

struct DataPlane {
  std::unique_ptr<MemoryOps> memory;
  std::unique_ptr<IpcMapper> device_mapper;  // Null: tensors are host shared memory.
  std::unique_ptr<Inbox> inbox;
  std::unique_ptr<Transport> transport;
  int gpu_index = -1;     // CUDA ordinal; -1 for host memory.
  std::string device_id;  // Names the physical device (a GPU's UUID); empty for host.
};

// Host memory, the host transport (gRPC pushes between agents over channels
// from `channels`; `push_delay`: see HostTransport, testing only).
DataPlane MakeHostDataPlane(ChannelFactory channels,
                            absl::Duration push_delay = absl::ZeroDuration());

// One GPU: device memory, CUDA IPC, NCCL. Defined only in builds with CUDA
// (agent/gpu/gpu_data_plane.cc); FAILED_PRECONDITION for an unusable device.
absl::StatusOr<DataPlane> MakeGpuDataPlane(int device);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_DATA_PLANE_H_
