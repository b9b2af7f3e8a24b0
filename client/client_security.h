// File: client/client_security.h
// -----------------------------------------------------------------------------
// The TLS material and bearer token the client library's channels use (to
// agents and to the coordinator) unless a caller passes its own: by default
// read on first use from the environment (PARAMSYNC_TLS_CA, PARAMSYNC_TLS_CERT,
// PARAMSYNC_TLS_KEY, PARAMSYNC_TLS_SERVER_NAME, PARAMSYNC_TOKEN_FILE; see
// common/credentials.h), or set once by the process (the C ABI's
// paramsync_set_security, the Python package's configure_security).
#ifndef PARAMSYNC_CLIENT_CLIENT_SECURITY_H_
#define PARAMSYNC_CLIENT_CLIENT_SECURITY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/credentials.h"

namespace paramsync::client {

// Reads `config`'s files and makes them the process's client credentials; on
// error (the path named) the previous ones stay.
absl::Status SetClientSecurity(const SecurityConfig& config);

// The process's client credentials; the error of reading the environment's
// files if that failed.
absl::StatusOr<std::shared_ptr<const Credentials>> ClientCredentials();

// A channel to `address` with the process's client credentials and token.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ClientChannel(const std::string& address);

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_CLIENT_SECURITY_H_
