#include "common/serve_until_signal.h"

#include <glog/logging.h>

#include "common/address_file.h"

namespace paramsync {

int ServeUntilSignal(SignalWaiter& signals, const std::string& address,
                     const std::string& address_file, const std::function<void()>& shutdown) {
  absl::Status written = WriteAddressFile(address_file, address);
  if (!written.ok()) {
    LOG(ERROR) << written;
    shutdown();
    return 1;
  }
  const int signal = signals.Wait();
  LOG(INFO) << "signal " << signal << ": shutting down";
  shutdown();
  return 0;
}

}  // namespace paramsync
