#include "client/device_endpoint.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "client/agent_local.h"
#include "common/status_macros.h"

namespace paramsync::client {
namespace {

constexpr uint64_t kAlignment = 256;

absl::Status Cuda(cudaError_t error, const std::string& what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", cudaGetErrorString(error)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DeviceEndpoint>> DeviceEndpoint::Register(
    const std::string& agent_address, const v1::EndpointSpec& endpoint,
    const std::vector<TensorDecl>& tensors, int device, absl::Duration timeout) {
  uint64_t size = 0;
  ASSIGN_OR_RETURN(v1::LocalRegisterEndpointRequest request,
                   LayOut(endpoint, tensors, kAlignment, &size));
  RETURN_IF_ERROR(Cuda(cudaSetDevice(device), absl::StrCat("CUDA device ", device)));
  void* memory = nullptr;
  RETURN_IF_ERROR(Cuda(cudaMalloc(&memory, std::max<uint64_t>(size, 1)), "cudaMalloc"));
  Allocation allocation(static_cast<char*>(memory), CudaFree{device});
  RETURN_IF_ERROR(Cuda(cudaMemset(memory, 0, std::max<uint64_t>(size, 1)), "cudaMemset"));
  cudaIpcMemHandle_t handle;
  RETURN_IF_ERROR(Cuda(cudaIpcGetMemHandle(&handle, memory), "cudaIpcGetMemHandle"));
  const std::string handle_bytes(reinterpret_cast<const char*>(&handle), sizeof(handle));
  for (v1::LocalTensor& tensor : *request.mutable_tensors()) {
    tensor.set_cuda_ipc_handle(handle_bytes);
  }
  RETURN_IF_ERROR(RegisterWithAgent(agent_address, request, timeout));
  return std::unique_ptr<DeviceEndpoint>(
      new DeviceEndpoint(agent_address, std::move(request), std::move(allocation)));
}

void DeviceEndpoint::CudaFree::operator()(char* p) const {
  cudaSetDevice(device);
  cudaFree(p);
}

void* DeviceEndpoint::Data(const std::string& name) const {
  const v1::LocalTensor* tensor = Find(name);
  return tensor == nullptr ? nullptr : allocation_.get() + tensor->offset();
}

absl::Status DeviceEndpoint::Write(const std::string& name, const void* src, uint64_t bytes) {
  ASSIGN_OR_RETURN(const uint64_t offset, Locate(name, bytes));
  cudaSetDevice(allocation_.get_deleter().device);
  return Cuda(cudaMemcpy(allocation_.get() + offset, src, bytes, cudaMemcpyHostToDevice),
              "cudaMemcpy");
}

absl::Status DeviceEndpoint::Read(const std::string& name, void* dst, uint64_t bytes) const {
  ASSIGN_OR_RETURN(const uint64_t offset, Locate(name, bytes));
  cudaSetDevice(allocation_.get_deleter().device);
  return Cuda(cudaMemcpy(dst, allocation_.get() + offset, bytes, cudaMemcpyDeviceToHost),
              "cudaMemcpy");
}

}  // namespace paramsync::client
