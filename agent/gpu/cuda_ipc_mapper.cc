#include "agent/gpu/cuda_ipc_mapper.h"

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/transport/nccl/nccl_status.h"

namespace paramsync::agent {
namespace {

using AddressRangeFn = CUresult (*)(CUdeviceptr* base, size_t* size, CUdeviceptr pointer);

// cuMemGetAddressRange through the runtime, so the agent needs no link to the
// driver library: the size of a mapped allocation bounds every tensor in it.
absl::StatusOr<size_t> AllocationSize(void* base) {
  static AddressRangeFn range = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found;
    if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &fn, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      fn = nullptr;
    }
    return reinterpret_cast<AddressRangeFn>(fn);
  }();
  if (range == nullptr) {
    return absl::FailedPreconditionError("the CUDA driver offers no cuMemGetAddressRange");
  }
  CUdeviceptr start = 0;
  size_t size = 0;
  if (range(&start, &size, reinterpret_cast<CUdeviceptr>(base)) != CUDA_SUCCESS) {
    return absl::InternalError("cuMemGetAddressRange failed on a mapped IPC allocation");
  }
  return size;
}

}  // namespace

CudaIpcMapper::~CudaIpcMapper() {
  absl::MutexLock lock(&mu_);
  cudaSetDevice(device_);
  for (auto& [handle, mapping] : mappings_) cudaIpcCloseMemHandle(mapping.base);
}

absl::StatusOr<MappedAllocation> CudaIpcMapper::Open(const std::string& handle) {
  if (handle.size() != sizeof(cudaIpcMemHandle_t)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda_ipc_handle has ", handle.size(),
                                                   " bytes; a cudaIpcMemHandle_t has ",
                                                   sizeof(cudaIpcMemHandle_t)));
  }
  absl::MutexLock lock(&mu_);
  auto it = mappings_.find(handle);
  if (it != mappings_.end()) return it->second;
  cudaIpcMemHandle_t ipc;
  std::memcpy(&ipc, handle.data(), sizeof(ipc));
  cudaSetDevice(device_);
  void* base = nullptr;
  const cudaError_t opened = cudaIpcOpenMemHandle(&base, ipc, cudaIpcMemLazyEnablePeerAccess);
  if (opened != cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the CUDA IPC handle (", cudaGetErrorString(opened),
        "): share memory from a plain cudaMalloc'd allocation on this agent's GPU; PyTorch's "
        "expandable segments cannot be shared this way (unset "
        "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)"));
  }
  absl::StatusOr<size_t> size = AllocationSize(base);
  if (!size.ok()) {
    cudaIpcCloseMemHandle(base);
    return size.status();
  }
  MappedAllocation mapping{static_cast<char*>(base), *size};
  mappings_[handle] = mapping;
  return mapping;
}

}  // namespace paramsync::agent
