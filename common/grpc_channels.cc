#include "common/grpc_channels.h"

#include <algorithm>

namespace paramsync {

grpc::ChannelArguments DefaultChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // A sync that fails fast must not wait for a reconnect backoff of a peer that
  // just restarted.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return args;
}

std::shared_ptr<grpc::Channel> MakeAgentChannel(const std::string& address) {
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   DefaultChannelArguments());
}

void ConfigureServerLimits(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
}

grpc::ChannelArguments SilenceDetectingChannelArguments(absl::Duration silence) {
  grpc::ChannelArguments args = DefaultChannelArguments();
  const int half_ms =
      static_cast<int>(absl::ToInt64Milliseconds(std::max(silence, kMinSilenceTimeout) / 2));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, half_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, half_ms);
  // Pings only while calls are active; idle connections stay quiet.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A sender stalled by flow control sends no data, and must keep pinging.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Keepalive starts once connected: a connection attempt that meets silence
  // (no SETTINGS frame back) gives up after `silence` as well, not after the
  // 20 s gRPC allows by default. gRPC reads this argument as the shortest
  // connection attempt, despite its name.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2 * half_ms);
  return args;
}

void AcceptKeepalivePings(grpc::ServerBuilder& builder) {
  // Half the shortest ping interval, so that timer jitter never counts as abuse.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(kMinSilenceTimeout / 4)));
}

}  // namespace paramsync
