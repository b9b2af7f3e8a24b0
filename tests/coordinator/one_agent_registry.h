// File: tests/coordinator/one_agent_registry.h
// -----------------------------------------------------------------------------
// An endpoint registry with one host agent registered: what registration tests
// register endpoints on.
#ifndef PARAMSYNC_TESTS_COORDINATOR_ONE_AGENT_REGISTRY_H_
#define PARAMSYNC_TESTS_COORDINATOR_ONE_AGENT_REGISTRY_H_

#include <string>

#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"

namespace paramsync::coordinator::testing {

struct OneAgentRegistry {
  OneAgentRegistry() {
    v1::AgentInfo info;
    info.set_address("127.0.0.1:1");
    info.set_host("node0");
    info.set_device("cpu:0");
    agent_id = *agents.Register(info);
  }
  AgentRegistry agents;
  EndpointRegistry endpoints{&agents};
  std::string agent_id;  // The agent's.
};

}  // namespace paramsync::coordinator::testing

#endif  // PARAMSYNC_TESTS_COORDINATOR_ONE_AGENT_REGISTRY_H_
