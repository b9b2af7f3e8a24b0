// File: common/server_introspection.h
// -----------------------------------------------------------------------------
// The standard services both daemons serve beside their own, for operators and
// probes: grpc.health.v1.Health (readiness; the daemon sets its status) and
// server reflection (grpcurl, grpc_cli list and describe the paramsync
// services). Both take the same credentials and tokens as every other call.
#ifndef PARAMSYNC_COMMON_SERVER_INTROSPECTION_H_
#define PARAMSYNC_COMMON_SERVER_INTROSPECTION_H_

namespace paramsync {

// Call before building a grpc::ServerBuilder: every server built afterwards in
// this process serves health checking and reflection. Health starts SERVING;
// set it with server->GetHealthCheckService()->SetServingStatus().
void EnableServerIntrospection();

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_SERVER_INTROSPECTION_H_
