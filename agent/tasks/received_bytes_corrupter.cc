#include "agent/tasks/received_bytes_corrupter.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

absl::Status ReceivedBytesCorrupter::Corrupt() const {
  // Written from host memory: MemoryOps copies host bytes into any memory.
  static constexpr uint8_t kPattern[8] = {0xde, 0xad, 0xbe, 0xef, 0x0b, 0xad, 0xf0, 0x0d};
  for (const v1::LocalRegisterEndpointRequest& registration : tensors_->Registrations()) {
    const v1::EndpointSpec& spec = registration.endpoint();
    if (spec.role() != v1::ROLE_INFERENCE) continue;
    const EndpointKey endpoint(spec.model(), spec.rank());
    absl::StatusOr<TensorView> view = tensors_->Find(endpoint, tensor_);
    if (!view.ok()) continue;  // Not this endpoint's tensor, or the endpoint is gone.
    const size_t bytes = std::min<uint64_t>(sizeof(kPattern), view->nbytes);
    LOG(WARNING) << "testing: corrupting " << bytes << " received bytes of tensor '" << tensor_
                 << "' of " << endpoint.first << " rank " << endpoint.second;
    absl::Status written = memory_->Copy(view->data, kPattern, bytes);
    if (!written.ok()) {
      return absl::Status(written.code(),
                          absl::StrCat("corrupting tensor '", tensor_, "' of ", endpoint.first,
                                       " rank ", endpoint.second, ": ", written.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace paramsync::agent
