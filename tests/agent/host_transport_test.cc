// Conformance of HostTransport: two agents' transports, each with its Inbox
// served by a real AgentData gRPC server on loopback (and a real silent TCP
// peer for the silence timeout).
#include "agent/transport/host_transport.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/service/agent_data_service.h"
#include "agent/transport/inbox.h"
#include "common/grpc_channels.h"
#include "common/unreachable_peer.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::agent {
namespace {

// Channels whose pushes fail once their connection is silent for `silence`.
ChannelFactory SilenceDetecting(absl::Duration silence) {
  return [silence](const std::string& address) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                     SilenceDetectingChannelArguments(silence));
  };
}

// One agent's data plane: an Inbox, its Push server (which accepts keepalive
// pings, as an agent's does) and a HostTransport pushing over `channels`.
class DataPlane {
 public:
  explicit DataPlane(ChannelFactory channels = &MakeAgentChannel)
      : inbox_(&memory_), service_(&inbox_), transport_(&inbox_, std::move(channels)) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    ConfigureServerLimits(builder);
    AcceptKeepalivePings(builder);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
    transport_.set_self_address(address_);
  }
  ~DataPlane() { server_->Shutdown(); }

  HostTransport& transport() { return transport_; }
  const std::string& address() const { return address_; }

 private:
  HostMemoryOps memory_;
  Inbox inbox_;
  AgentDataService service_;
  HostTransport transport_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + seed);
  return v;
}

absl::Time In(absl::Duration d) { return absl::Now() + d; }

TEST_CASE("Broadcast reaches a remote and a same-agent receiver byte for byte",
          "[host_transport]") {
  DataPlane a, b;
  // Rank 0 (root) and rank 2 live on agent a; rank 1 on agent b.
  GroupView group{"g", {{0, "a", a.address()}, {1, "b", b.address()}, {2, "a", a.address()}}};
  REQUIRE(a.transport().SetupGroup(group).ok());
  REQUIRE(b.transport().SetupGroup(group).ok());
  // Two buffers, one larger than a chunk, so chunking and packing are exercised.
  const std::vector<uint8_t> first = Pattern(HostTransport::kChunkBytes + 12345, 1);
  const std::vector<uint8_t> second = Pattern(777, 2);
  std::vector<uint8_t> remote_first(first.size()), remote_second(second.size());
  std::vector<uint8_t> local_first(first.size()), local_second(second.size());

  const std::vector<int> receivers = {1, 2};
  absl::Status remote_status, local_status;
  std::thread remote([&] {
    remote_status = b.transport().BroadcastRecv(
        group, {7, 3, 1}, 0, receivers,
        {{remote_first.data(), remote_first.size()}, {remote_second.data(), remote_second.size()}},
        In(absl::Seconds(10)));
  });
  std::thread local([&] {
    local_status = a.transport().BroadcastRecv(
        group, {7, 3, 2}, 0, receivers,
        {{local_first.data(), local_first.size()}, {local_second.data(), local_second.size()}},
        In(absl::Seconds(10)));
  });
  absl::Status sent = a.transport().BroadcastSend(
      group, 7, 3, receivers, {{first.data(), first.size()}, {second.data(), second.size()}},
      In(absl::Seconds(10)));
  remote.join();
  local.join();
  REQUIRE(sent.ok());
  REQUIRE(remote_status.ok());
  REQUIRE(local_status.ok());
  CHECK(remote_first == first);
  CHECK(remote_second == second);
  CHECK(local_first == first);
  CHECK(local_second == second);
}

TEST_CASE("Send and Recv pair up even when the data arrives first", "[host_transport]") {
  DataPlane a, b;
  GroupView group{"p2p", {{0, "a", a.address()}, {1, "b", b.address()}}};
  const std::vector<uint8_t> data = Pattern(4096, 9);
  absl::Status sent;
  std::thread sender([&] {
    sent = a.transport().Send(group, 11, 1, 1, {{data.data(), data.size()}}, In(absl::Seconds(10)));
  });
  absl::SleepFor(absl::Milliseconds(100));  // The push waits for the receive to be posted.
  std::vector<uint8_t> out(data.size());
  absl::Status received =
      b.transport().Recv(group, {11, 1, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(10)));
  sender.join();
  REQUIRE(sent.ok());
  REQUIRE(received.ok());
  CHECK(out == data);
}

TEST_CASE("A size mismatch fails both sides with a message", "[host_transport]") {
  DataPlane a, b;
  GroupView group{"g", {{0, "a", a.address()}, {1, "b", b.address()}}};
  const std::vector<uint8_t> data = Pattern(100, 3);
  std::vector<uint8_t> out(64);
  absl::Status received;
  std::thread receiver([&] {
    received =
        b.transport().Recv(group, {5, 1, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(10)));
  });
  absl::Status sent =
      a.transport().Send(group, 5, 1, 1, {{data.data(), data.size()}}, In(absl::Seconds(10)));
  receiver.join();
  CHECK(sent.code() == absl::StatusCode::kInvalidArgument);
  CHECK(received.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(received.message()).find("expects") != std::string::npos);
}

TEST_CASE("A receive with no sender ends at its deadline", "[host_transport]") {
  DataPlane b;
  GroupView group{"g", {{0, "a", "127.0.0.1:1"}, {1, "b", b.address()}}};
  std::vector<uint8_t> out(16);
  const absl::Time start = absl::Now();
  absl::Status received = b.transport().Recv(group, {6, 1, 1}, 0, {{out.data(), out.size()}},
                                             In(absl::Milliseconds(300)));
  CHECK(received.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::Now() - start < absl::Seconds(3));
}

TEST_CASE("Abort releases a waiting receiver at once", "[host_transport]") {
  DataPlane b;
  GroupView group{"g", {{0, "a", "127.0.0.1:1"}, {1, "b", b.address()}}};
  std::vector<uint8_t> out(16);
  absl::Status received;
  std::thread receiver([&] {
    received =
        b.transport().Recv(group, {8, 1, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(30)));
  });
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  b.transport().Abort(8, absl::AbortedError("test abort"));
  receiver.join();
  CHECK(received.code() == absl::StatusCode::kAborted);
  CHECK(absl::Now() - start < absl::Seconds(2));
  // Later transfers of an aborted sync fail at once too.
  CHECK(b.transport()
            .Recv(group, {8, 2, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(30)))
            .code() == absl::StatusCode::kAborted);
}

TEST_CASE("A send to an unreachable agent fails by its deadline, naming it", "[host_transport]") {
  DataPlane a;
  GroupView group{"g", {{0, "a", a.address()}, {1, "gone", "127.0.0.1:1"}}};
  const std::vector<uint8_t> data = Pattern(16, 1);
  const absl::Time start = absl::Now();
  absl::Status sent =
      a.transport().Send(group, 9, 1, 1, {{data.data(), data.size()}}, In(absl::Seconds(2)));
  INFO(sent.ToString());
  CHECK(sent.code() == absl::StatusCode::kUnavailable);
  CHECK(UnreachablePeer(sent) == "gone");
  CHECK(absl::Now() - start < absl::Seconds(5));
}

TEST_CASE("Pushes go to a member's data address when it has one", "[host_transport]") {
  DataPlane a, b;
  // b's agent address leads nowhere; a proxy in front of it would be its data
  // address, here b's port itself.
  GroupView group{"g", {{0, "a", a.address()}, {1, "b", "127.0.0.1:1", b.address()}}};
  const std::vector<uint8_t> data = Pattern(1000, 3);
  std::vector<uint8_t> out(data.size());
  absl::Status received;
  std::thread receiver([&] {
    received =
        b.transport().Recv(group, {10, 1, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(10)));
  });
  absl::Status sent =
      a.transport().Send(group, 10, 1, 1, {{data.data(), data.size()}}, In(absl::Seconds(10)));
  receiver.join();
  INFO(sent.ToString() << " / " << received.ToString());
  CHECK(sent.ok());
  CHECK(received.ok());
  CHECK(out == data);
}

TEST_CASE("A push to a peer that stays silent fails within the silence timeout, naming it",
          "[host_transport]") {
  // A TCP port that takes connections (the kernel completes them) and never
  // answers, as a peer behind a cut link.
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(bound);
  REQUIRE(bind(silent, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) == 0);
  REQUIRE(listen(silent, 8) == 0);
  REQUIRE(getsockname(silent, reinterpret_cast<sockaddr*>(&bound), &length) == 0);
  const std::string address = absl::StrCat("127.0.0.1:", ntohs(bound.sin_port));

  const absl::Duration silence = absl::Milliseconds(500);
  DataPlane a(SilenceDetecting(silence));
  GroupView group{"g", {{0, "a", a.address()}, {1, "b", address}}};
  const std::vector<uint8_t> data = Pattern(16, 1);
  const absl::Time start = absl::Now();
  absl::Status sent =
      a.transport().Send(group, 11, 1, 1, {{data.data(), data.size()}}, In(absl::Seconds(30)));
  const absl::Duration took = absl::Now() - start;
  close(silent);
  INFO(sent.ToString());
  CHECK(sent.code() == absl::StatusCode::kUnavailable);
  CHECK(UnreachablePeer(sent) == "b");
  CHECK(took < 4 * silence);
}

TEST_CASE("A push to a live receiver that reads late is not taken for silence",
          "[host_transport]") {
  const absl::Duration silence = absl::Milliseconds(500);
  DataPlane a(SilenceDetecting(silence)), b;
  GroupView group{"g", {{0, "a", a.address()}, {1, "b", b.address()}}};
  // More than a chunk: the sender waits on flow control while the receiver,
  // busy elsewhere (an earlier stage), posts its receive only after many
  // silences, and 4 pings (gRPC sends at most one a second): a server that
  // took them for abuse would close the connection after the third.
  const std::vector<uint8_t> data = Pattern(3 * HostTransport::kChunkBytes, 5);
  std::vector<uint8_t> out(data.size());
  absl::Status received;
  std::thread receiver([&] {
    absl::SleepFor(absl::Milliseconds(4500));
    received =
        b.transport().Recv(group, {12, 1, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(10)));
  });
  absl::Status sent =
      a.transport().Send(group, 12, 1, 1, {{data.data(), data.size()}}, In(absl::Seconds(10)));
  receiver.join();
  INFO(sent.ToString() << " / " << received.ToString());
  CHECK(sent.ok());
  CHECK(received.ok());
  CHECK(out == data);
}

TEST_CASE("Ranks outside the group are refused", "[host_transport]") {
  DataPlane a;
  GroupView group{"g", {{0, "a", a.address()}}};
  const std::vector<uint8_t> data = Pattern(16, 1);
  const std::vector<int> receivers = {5};
  CHECK(
      a.transport()
          .BroadcastSend(group, 1, 1, receivers, {{data.data(), data.size()}}, In(absl::Seconds(1)))
          .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Abort of every sync wakes writers waiting to claim a receive", "[inbox]") {
  HostMemoryOps memory;
  Inbox inbox(&memory);
  absl::Status claimed;
  std::thread writer([&] { claimed = inbox.Claim({5, 1, 1}, In(absl::Seconds(30))).status(); });
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  inbox.Abort(0, absl::UnavailableError("the agent is shutting down"));
  writer.join();
  CHECK(claimed == absl::UnavailableError("the agent is shutting down"));
  CHECK(absl::Now() - start < absl::Seconds(2));
}

TEST_CASE("AwaitAbort returns the reason at the abort, or OK at its time", "[inbox]") {
  HostMemoryOps memory;
  Inbox inbox(&memory);
  CHECK(inbox.AwaitAbort(3, In(absl::Milliseconds(20))).ok());
  absl::Status waited;
  std::thread waiter([&] { waited = inbox.AwaitAbort(3, In(absl::Seconds(30))); });
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  inbox.Abort(3, absl::AbortedError("peer died"));
  waiter.join();
  CHECK(waited == absl::AbortedError("peer died"));
  CHECK(absl::Now() - start < absl::Seconds(2));
}

TEST_CASE("An abort ends a push whose sender stalled mid-stream", "[host_transport]") {
  DataPlane b;
  GroupView group{"g", {{0, "a", "127.0.0.1:1"}, {1, "b", b.address()}}};
  std::vector<uint8_t> out(16);
  absl::Status received;
  std::thread receiver([&] {
    received =
        b.transport().Recv(group, {6, 1, 1}, 0, {{out.data(), out.size()}}, In(absl::Seconds(30)));
  });
  // A sender that writes half the bytes and then stalls (as a frozen agent).
  auto stub = v1::AgentData::NewStub(MakeAgentChannel(b.address()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(In(absl::Seconds(30))));
  v1::PushResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::DataChunk>> writer = stub->Push(&context, &response);
  v1::DataChunk chunk;
  chunk.set_sync_id(6);
  chunk.set_task_id(1);
  chunk.set_receiver_sync_rank(1);
  chunk.set_data(std::string(8, 'x'));
  REQUIRE(writer->Write(chunk));
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  b.transport().Abort(6, absl::AbortedError("a peer failed"));
  receiver.join();
  CHECK(received.code() == absl::StatusCode::kAborted);
  // The receiving agent's Push handler does not wait for the stalled sender.
  grpc::Status pushed = writer->Finish();
  CHECK_FALSE(pushed.ok());
  CHECK(absl::Now() - start < absl::Seconds(5));
}

}  // namespace
}  // namespace paramsync::agent
