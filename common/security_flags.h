// File: common/security_flags.h
// -----------------------------------------------------------------------------
// The security flags both daemons take (--tls_cert, --tls_key, --tls_ca,
// --tls_server_name, --token_file, --daemon_token_file,
// --allow_insecure_remote); see common/credentials.h for what they do.
#ifndef PARAMSYNC_COMMON_SECURITY_FLAGS_H_
#define PARAMSYNC_COMMON_SECURITY_FLAGS_H_

#include "common/credentials.h"

namespace paramsync {

// The values of the security flags, once the command line is parsed.
SecurityConfig SecurityConfigFromFlags();

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_SECURITY_FLAGS_H_
