// File: agent/service/agent_data_service.h
// -----------------------------------------------------------------------------
// AgentData: the receiving end of the host transport. A Push stream is written
// into the Inbox receive it names, waiting for that receive to be posted. When
// the receive ends without it (aborted sync, receiver's deadline) the stream is
// cancelled, so a stalled sender holds no thread here.
#ifndef PARAMSYNC_AGENT_SERVICE_AGENT_DATA_SERVICE_H_
#define PARAMSYNC_AGENT_SERVICE_AGENT_DATA_SERVICE_H_

#include "agent/transport/inbox.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::agent {

class AgentDataService final : public v1::AgentData::Service {
 public:
  explicit AgentDataService(Inbox* inbox) : inbox_(inbox) {}

  grpc::Status Push(grpc::ServerContext* context, grpc::ServerReader<v1::DataChunk>* reader,
                    v1::PushResponse* response) override;

 private:
  Inbox* const inbox_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_SERVICE_AGENT_DATA_SERVICE_H_
