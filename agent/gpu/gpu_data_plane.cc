#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/data_plane.h"
#include "agent/gpu/cuda_ipc_mapper.h"
#include "agent/gpu/cuda_memory_ops.h"
#include "agent/transport/nccl/nccl_status.h"
#include "agent/transport/nccl/nccl_transport.h"

namespace paramsync::agent {
namespace {

// "GPU-xxxxxxxx-...": the same string nvidia-smi prints, so that two agents
// configured onto one GPU are seen as sharing it.
absl::StatusOr<std::string> GpuUuid(int device) {
  cudaDeviceProp properties;
  absl::Status status = CudaToStatus(cudaGetDeviceProperties(&properties, device),
                                     absl::StrCat("properties of CUDA device ", device));
  if (!status.ok()) return status;
  const auto* b = reinterpret_cast<const unsigned char*>(properties.uuid.bytes);
  return absl::StrFormat("GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

}  // namespace

absl::StatusOr<DataPlane> MakeGpuDataPlane(int device) {
  DataPlane plane;
  absl::StatusOr<std::string> uuid = GpuUuid(device);
  if (!uuid.ok()) return uuid.status();
  absl::StatusOr<std::unique_ptr<CudaMemoryOps>> memory = CudaMemoryOps::Create(device);
  if (!memory.ok()) return memory.status();
  plane.memory = *std::move(memory);
  plane.device_mapper = std::make_unique<CudaIpcMapper>(device);
  plane.inbox = std::make_unique<Inbox>(plane.memory.get());
  absl::StatusOr<std::unique_ptr<NcclTransport>> transport =
      NcclTransport::Create(device, plane.inbox.get());
  if (!transport.ok()) return transport.status();
  plane.transport = *std::move(transport);
  plane.gpu_index = device;
  plane.device_id = *std::move(uuid);
  return plane;
}

}  // namespace paramsync::agent
