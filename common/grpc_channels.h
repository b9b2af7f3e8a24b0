// File: common/grpc_channels.h
// -----------------------------------------------------------------------------
// How paramsync processes open channels and size servers, in one place so every
// process agrees on message limits.
#ifndef PARAMSYNC_COMMON_GRPC_CHANNELS_H_
#define PARAMSYNC_COMMON_GRPC_CHANNELS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"

namespace paramsync {

// Largest message any paramsync RPC carries: plans and task lists of big
// topologies, registrations with tens of thousands of parameters.
inline constexpr int kMaxMessageBytes = 64 << 20;

// Arguments of every paramsync channel (message limits, reconnect backoff).
grpc::ChannelArguments DefaultChannelArguments();

// A plaintext channel without a token to a paramsync server at `address`
// (host:port); common/credentials.h makes the channels of configured processes.
std::shared_ptr<grpc::Channel> MakeAgentChannel(const std::string& address);

void ConfigureServerLimits(grpc::ServerBuilder& builder);

// The shortest silence SilenceDetectingChannelArguments() accepts.
inline constexpr absl::Duration kMinSilenceTimeout = absl::Milliseconds(200);

// DefaultChannelArguments() for a channel whose calls fail with UNAVAILABLE
// once its connection stays silent for `silence` (at least kMinSilenceTimeout):
// while a call is active an HTTP/2 keepalive ping goes out every silence / 2
// (gRPC sends at most one a second), and the connection is closed when one goes
// unanswered for silence / 2; a connection attempt gives up after `silence`.
// That catches a network cut or a frozen peer, which send no reset, without
// bounding how long a live peer may take to read: its gRPC answers pings
// regardless. The server must accept the pings (AcceptKeepalivePings).
grpc::ChannelArguments SilenceDetectingChannelArguments(absl::Duration silence);

// Lets the clients of `builder`'s server ping as SilenceDetectingChannelArguments()
// channels do (a gRPC server otherwise closes, "too many pings", a connection
// that pings more often than every 5 minutes while it sends nothing back, as
// it does while a receiver is slow to read a push).
void AcceptKeepalivePings(grpc::ServerBuilder& builder);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_GRPC_CHANNELS_H_
