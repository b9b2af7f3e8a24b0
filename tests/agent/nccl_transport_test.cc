// NcclTransport on whatever this machine has: without a GPU it must refuse
// clearly; on GPUs ("[gpu]", hidden unless asked for) it must move real bytes:
// by NCCL between devices and by device copy to a receiver on the root's device.
#include "agent/transport/nccl/nccl_transport.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/gpu/cuda_memory_ops.h"
#include "agent/transport/inbox.h"

namespace paramsync::agent {
namespace {

int DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

// One agent's GPU data plane.
struct GpuAgent {
  std::unique_ptr<CudaMemoryOps> memory;
  std::unique_ptr<Inbox> inbox;
  std::unique_ptr<NcclTransport> transport;

  static GpuAgent Start(int device, const std::string& address) {
    GpuAgent agent;
    auto memory = CudaMemoryOps::Create(device);
    REQUIRE(memory.ok());
    agent.memory = *std::move(memory);
    agent.inbox = std::make_unique<Inbox>(agent.memory.get());
    auto transport = NcclTransport::Create(device, agent.inbox.get());
    REQUIRE(transport.ok());
    agent.transport = *std::move(transport);
    agent.transport->set_self_address(address);
    return agent;
  }
};

std::vector<char> Pattern(size_t n) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>(i * 7 + 3);
  return v;
}

void* DeviceCopyOf(int device, const std::vector<char>& host) {
  void* buffer = nullptr;
  cudaSetDevice(device);
  REQUIRE(cudaMalloc(&buffer, host.size()) == cudaSuccess);
  REQUIRE(cudaMemcpy(buffer, host.data(), host.size(), cudaMemcpyHostToDevice) == cudaSuccess);
  return buffer;
}

std::vector<char> HostCopyOf(int device, void* buffer, size_t n) {
  std::vector<char> host(n);
  cudaSetDevice(device);
  REQUIRE(cudaMemcpy(host.data(), buffer, n, cudaMemcpyDeviceToHost) == cudaSuccess);
  return host;
}

TEST_CASE("Without a usable GPU the NCCL transport refuses to start, with a reason",
          "[nccl_transport]") {
  const int devices = DeviceCount();
  HostMemoryOps memory;
  Inbox inbox(&memory);
  // Device index `devices` never exists.
  absl::StatusOr<std::unique_ptr<NcclTransport>> transport = NcclTransport::Create(devices, &inbox);
  REQUIRE_FALSE(transport.ok());
  CHECK(std::string(transport.status().message()).find("CUDA device") != std::string::npos);
}

TEST_CASE("NCCL broadcast to another GPU and a device copy on the root's GPU",
          "[.][gpu][nccl_transport]") {
  REQUIRE(DeviceCount() >= 2);
  ncclUniqueId id;
  REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
  // Ranks 0 (root) and 2 on agent a (GPU 0), rank 1 on agent b (GPU 1).
  GroupView group{"test_from_0_to_1_2",
                  {{0, "a", "agent-a"}, {1, "b", "agent-b"}, {2, "a", "agent-a"}},
                  std::string(reinterpret_cast<const char*>(&id), sizeof(id))};
  constexpr size_t kBytes = 8 << 20;
  const std::vector<char> expected = Pattern(kBytes);
  const std::vector<int> receivers = {1, 2};
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::Status sent, remote, local;
  std::vector<char> remote_bytes, local_bytes;
  std::thread agent_b([&] {
    GpuAgent b = GpuAgent::Start(1, "agent-b");
    remote = b.transport->SetupGroup(group);
    if (!remote.ok()) return;
    void* buffer = DeviceCopyOf(1, std::vector<char>(kBytes));
    remote =
        b.transport->BroadcastRecv(group, {1, 1, 1}, 0, receivers, {{buffer, kBytes}}, deadline);
    remote_bytes = HostCopyOf(1, buffer, kBytes);
    cudaFree(buffer);
  });
  {
    GpuAgent a = GpuAgent::Start(0, "agent-a");
    sent = a.transport->SetupGroup(group);
    if (sent.ok()) {
      void* source = DeviceCopyOf(0, expected);
      void* target = DeviceCopyOf(0, std::vector<char>(kBytes));
      std::thread local_receiver([&] {
        local = a.transport->BroadcastRecv(group, {1, 1, 2}, 0, receivers, {{target, kBytes}},
                                           deadline);
      });
      sent = a.transport->BroadcastSend(group, 1, 1, receivers, {{source, kBytes}}, deadline);
      local_receiver.join();
      local_bytes = HostCopyOf(0, target, kBytes);
      cudaSetDevice(0);
      cudaFree(source);
      cudaFree(target);
    }
  }
  agent_b.join();
  INFO(sent.ToString() << " / " << remote.ToString() << " / " << local.ToString());
  REQUIRE(sent.ok());
  REQUIRE(remote.ok());
  REQUIRE(local.ok());
  CHECK(remote_bytes == expected);
  CHECK(local_bytes == expected);
}

TEST_CASE("GPU TP slices: dim-0 and dim-1 slices by pitched copies", "[.][gpu][memory_ops]") {
  REQUIRE(DeviceCount() >= 1);
  auto memory = CudaMemoryOps::Create(0);
  REQUIRE(memory.ok());
  // A 4 x 6 int32 tensor; dim 1 split 3 ways, slice 1 = columns 2..3.
  std::vector<int32_t> whole(24);
  for (int i = 0; i < 24; ++i) whole[i] = i;
  std::vector<char> bytes(reinterpret_cast<char*>(whole.data()),
                          reinterpret_cast<char*>(whole.data()) + 96);
  void* device_whole = DeviceCopyOf(0, bytes);
  auto slice = (*memory)->Allocate(32);
  REQUIRE(slice.ok());
  const std::vector<int64_t> shape = {4, 6};
  REQUIRE((*memory)->CopySlice({shape, 4, 1, 3, 1}, device_whole, (*slice)->data(), 32).ok());
  std::vector<char> out = HostCopyOf(0, (*slice)->data(), 32);
  std::vector<int32_t> got(8);
  std::memcpy(got.data(), out.data(), 32);
  CHECK(got == std::vector<int32_t>{2, 3, 8, 9, 14, 15, 20, 21});
  REQUIRE((*memory)->CopySlice({shape, 4, 0, 2, 1}, device_whole, (*slice)->data(), 40).code() ==
          absl::StatusCode::kInvalidArgument);  // Wrong destination size.
  cudaFree(device_whole);
}

}  // namespace
}  // namespace paramsync::agent
