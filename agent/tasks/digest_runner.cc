#include "agent/tasks/digest_runner.h"

#include <glog/logging.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/dtype.h"
#include "common/status_macros.h"

namespace paramsync::agent {
namespace {

absl::Span<const int64_t> SpanOf(const google::protobuf::RepeatedField<int64_t>& field) {
  return absl::MakeConstSpan(field.data(), field.size());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const DigestRunner::Resolved>> DigestRunner::Resolve(
    const v1::DigestRequest& request) const {
  auto resolved = std::make_shared<Resolved>();
  // Before the lookups: a registration racing with them makes the result look
  // older than it is, never newer.
  resolved->generation = tensors_->generation();
  resolved->regions.reserve(request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::DigestItem& item = request.items(i);
    const EndpointKey endpoint(item.endpoint().model(), item.endpoint().rank());
    const std::string where = absl::StrCat("digest item ", i, " (", endpoint.first, " rank ",
                                           endpoint.second, ", tensor '", item.name(), "')");
    absl::StatusOr<TensorView> view = tensors_->Find(endpoint, item.name());
    if (!view.ok()) {
      return absl::Status(view.status().code(), absl::StrCat(where, ": ", view.status().message()));
    }
    const int element_size = DTypeSize(view->spec->dtype());
    // Checks that the region lies inside the tensor and the parameter.
    absl::StatusOr<std::vector<DigestBlock>> blocks = PlanDigest(
        {SpanOf(view->spec->shape()), SpanOf(item.region().start()), SpanOf(item.region().extent()),
         SpanOf(item.global_shape()), SpanOf(item.global_start()), element_size});
    if (!blocks.ok()) {
      return absl::Status(blocks.status().code(),
                          absl::StrCat(where, ": ", blocks.status().message()));
    }
    resolved->regions.push_back({view->data, element_size, *std::move(blocks)});
  }
  return resolved;
}

absl::StatusOr<v1::DigestResponse> DigestRunner::Run(const v1::DigestRequest& request) {
  const absl::Time resolve_start = absl::Now();
  std::shared_ptr<const Resolved> resolved;
  if (request.items().empty() && request.plan_id() != 0) {
    resolved = plans_.Find(request.plan_id());
    // Kept views may be stale once any endpoint registered again.
    if (resolved != nullptr && resolved->generation != tensors_->generation()) resolved = nullptr;
    if (resolved == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("this agent holds no digest items of plan ", request.plan_id(),
                       " (it restarted, or an endpoint registered again since); send them again"));
    }
  } else {
    ASSIGN_OR_RETURN(resolved, Resolve(request));
    if (request.plan_id() != 0) plans_.Store(request.plan_id(), resolved);
  }
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(const std::vector<uint64_t> digests, memory_->Digest(resolved->regions));
  v1::DigestResponse response;
  response.mutable_digests()->Add(digests.begin(), digests.end());
  response.set_duration_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  VLOG(1) << "digests for sync " << request.sync_id() << ": " << digests.size() << " regions "
          << (request.items().empty() ? "kept" : "resolved") << " in "
          << absl::ToDoubleMilliseconds(start - resolve_start) << " ms, digested in "
          << response.duration_ms() << " ms";
  return response;
}

}  // namespace paramsync::agent
