#include "common/server_introspection.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

namespace paramsync {

void EnableServerIntrospection() {
  grpc::EnableDefaultHealthCheckService(true);
  // Called, not only linked: the plugin registers itself from a static
  // initializer, which a static link drops when nothing refers to it.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
}

}  // namespace paramsync
