// NcclTransport on whatever this machine has: without a GPU it must refuse
// clearly; with two or more GPUs it must broadcast and send/recv real bytes
// between two communicator ranks (one thread each, one device each).
#include "agent/transport/nccl/nccl_transport.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

namespace paramsync::agent {
namespace {

int DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

TEST_CASE("Without a usable GPU the NCCL transport refuses to start, with a reason",
          "[nccl_transport]") {
  const int devices = DeviceCount();
  absl::StatusOr<std::unique_ptr<NcclTransport>> transport = NcclTransport::Create(devices);
  // Device index `devices` never exists.
  REQUIRE_FALSE(transport.ok());
  CHECK(std::string(transport.status().message()).find("CUDA device") != std::string::npos);
}

// Hidden ("[.]"): runs only where asked for with "[gpu]", on a machine with 2+ GPUs.
TEST_CASE("NCCL broadcast moves device bytes between two GPUs", "[.][gpu][nccl_transport]") {
  REQUIRE(DeviceCount() >= 2);
  ncclUniqueId id;
  REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
  GroupView group{"test_from_0_to_1",
                  {{0, "a", "agent-a"}, {1, "b", "agent-b"}},
                  std::string(reinterpret_cast<const char*>(&id), sizeof(id))};
  constexpr size_t kBytes = 8 << 20;
  std::vector<char> expected(kBytes);
  for (size_t i = 0; i < kBytes; ++i) expected[i] = static_cast<char>(i * 7 + 3);
  std::vector<char> received(kBytes);
  absl::Status send_status, recv_status;
  auto rank = [&](int device) {
    absl::StatusOr<std::unique_ptr<NcclTransport>> transport = NcclTransport::Create(device);
    if (!transport.ok()) {
      (device == 0 ? send_status : recv_status) = transport.status();
      return;
    }
    (*transport)->set_self_address(device == 0 ? "agent-a" : "agent-b");
    absl::Status setup = (*transport)->SetupGroup(group);
    if (!setup.ok()) {
      (device == 0 ? send_status : recv_status) = setup;
      return;
    }
    void* buffer = nullptr;
    cudaSetDevice(device);
    cudaMalloc(&buffer, kBytes);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    const std::vector<int> receivers = {1};
    if (device == 0) {
      cudaMemcpy(buffer, expected.data(), kBytes, cudaMemcpyHostToDevice);
      send_status =
          (*transport)->BroadcastSend(group, 1, 1, receivers, {{buffer, kBytes}}, deadline);
    } else {
      recv_status =
          (*transport)->BroadcastRecv(group, {1, 1, 1}, 0, receivers, {{buffer, kBytes}}, deadline);
      cudaMemcpy(received.data(), buffer, kBytes, cudaMemcpyDeviceToHost);
    }
    cudaFree(buffer);
  };
  std::thread sender(rank, 0);
  std::thread receiver(rank, 1);
  sender.join();
  receiver.join();
  INFO(send_status.ToString() << " / " << recv_status.ToString());
  REQUIRE(send_status.ok());
  REQUIRE(recv_status.ok());
  CHECK(std::memcmp(received.data(), expected.data(), kBytes) == 0);
}

}  // namespace
}  // namespace paramsync::agent
