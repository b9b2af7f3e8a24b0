#include "agent/data_plane.h"
#include "agent/transport/host_transport.h"

namespace paramsync::agent {

DataPlane MakeHostDataPlane(ChannelFactory channels, absl::Duration push_delay) {
  DataPlane plane;
  plane.memory = std::make_unique<HostMemoryOps>();
  plane.inbox = std::make_unique<Inbox>(plane.memory.get());
  plane.transport =
      std::make_unique<HostTransport>(plane.inbox.get(), std::move(channels), push_delay);
  return plane;
}

}  // namespace paramsync::agent
