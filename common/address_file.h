// File: common/address_file.h
// -----------------------------------------------------------------------------
// A daemon started on port 0 tells its launcher the port it got by writing
// "host:port" to a file, atomically (written aside, then renamed), so a reader
// polling for the file never sees half of it.
#ifndef PARAMSYNC_COMMON_ADDRESS_FILE_H_
#define PARAMSYNC_COMMON_ADDRESS_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace paramsync {

// Does nothing when `path` is empty.
absl::Status WriteAddressFile(const std::string& path, const std::string& address);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_ADDRESS_FILE_H_
