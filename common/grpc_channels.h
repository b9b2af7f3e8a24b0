// File: common/grpc_channels.h
// -----------------------------------------------------------------------------
// How paramsync processes open channels and size servers, in one place so every
// process agrees on message limits.
#ifndef PARAMSYNC_COMMON_GRPC_CHANNELS_H_
#define PARAMSYNC_COMMON_GRPC_CHANNELS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

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

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_GRPC_CHANNELS_H_
