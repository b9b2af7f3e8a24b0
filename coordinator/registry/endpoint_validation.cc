#include "coordinator/registry/endpoint_validation.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/dtype.h"

namespace paramsync::coordinator {
namespace {

absl::Status CheckRank(const char* field, int rank, const char* size_field, int size) {
  if (rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint.parallel.", field, " is ", rank,
                                                   "; accepted: 0 to ", size_field,
                                                   "-1 = ", size - 1));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(const char* field, int size) {
  // 4096 bounds every parallel dimension far above any real job.
  if (size < 1 || size > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint.parallel.", field, " is ", size, "; accepted: 1 to 4096"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEndpointSpec(const v1::EndpointSpec& endpoint) {
  if (endpoint.model().empty() || endpoint.model().size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint.model must be 1 to ", kMaxNameLength,
                                                   " characters, got ", endpoint.model().size()));
  }
  if (endpoint.role() != v1::ROLE_TRAINER && endpoint.role() != v1::ROLE_INFERENCE) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint.role is ", endpoint.role(),
                                                   "; accepted: ROLE_TRAINER, ROLE_INFERENCE"));
  }
  const v1::ParallelConfig& p = endpoint.parallel();
  for (auto [field, size] : {std::pair{"tp_size", p.tp_size()},
                             {"pp_size", p.pp_size()},
                             {"ep_size", p.ep_size()},
                             {"dp_size", p.dp_size()}}) {
    absl::Status status = CheckSize(field, size);
    if (!status.ok()) return status;
  }
  for (absl::Status status : {CheckRank("tp_rank", p.tp_rank(), "tp_size", p.tp_size()),
                              CheckRank("pp_rank", p.pp_rank(), "pp_size", p.pp_size()),
                              CheckRank("ep_rank", p.ep_rank(), "ep_size", p.ep_size()),
                              CheckRank("dp_rank", p.dp_rank(), "dp_size", p.dp_size())}) {
    if (!status.ok()) return status;
  }
  if (endpoint.replica() < 0 || endpoint.local_rank() < 0) {
    return absl::InvalidArgumentError("endpoint.replica and endpoint.local_rank must be >= 0");
  }
  const int64_t model_size = int64_t{p.tp_size()} * p.pp_size() * p.dp_size();
  if (endpoint.role() == v1::ROLE_TRAINER) {
    // Megatron's rank layout; the planner's rank mapping relies on it.
    const int64_t expected = int64_t{p.pp_rank()} * p.tp_size() * p.dp_size() +
                             int64_t{p.dp_rank()} * p.tp_size() + p.tp_rank();
    if (endpoint.rank() != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint.rank is ", endpoint.rank(), " but a trainer rank with pp_rank ",
                       p.pp_rank(), ", dp_rank ", p.dp_rank(), ", tp_rank ", p.tp_rank(),
                       " must be ", expected, " (pp_rank*tp*dp + dp_rank*tp + tp_rank)"));
    }
    if (model_size > 1 << 20) return absl::InvalidArgumentError("trainer has over 2^20 ranks");
  } else {
    if (p.dp_size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint.parallel.dp_size of an inference endpoint is ", p.dp_size(),
                       "; accepted: 1 (replicas are counted by endpoint.replica)"));
    }
    const int64_t replica_size = int64_t{p.tp_size()} * p.pp_size();
    // The planner's bounds (4096 replicas, 2^20 ranks a side): they also keep
    // every later walk over a model's ranks short.
    if (endpoint.replica() > 4095) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint.replica is ", endpoint.replica(), "; accepted: 0 to 4095"));
    }
    if ((endpoint.replica() + 1) * replica_size > 1 << 20) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint.replica is ", endpoint.replica(), ": replicas 0 to ", endpoint.replica(),
          " of tp_size*pp_size = ", replica_size,
          " ranks make over 2^20 inference ranks; accepted: (replica+1)*tp_size*pp_size <= 2^20"));
    }
    if (endpoint.local_rank() >= replica_size) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint.local_rank is ",
                                                     endpoint.local_rank(), "; accepted: 0 to ",
                                                     replica_size - 1, " (tp_size*pp_size-1)"));
    }
    if (endpoint.local_rank() % p.tp_size() != p.tp_rank()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint.parallel.tp_rank is ", p.tp_rank(), " but local_rank ", endpoint.local_rank(),
          " % tp_size ", p.tp_size(), " is ", endpoint.local_rank() % p.tp_size()));
    }
    const int64_t expected = int64_t{endpoint.replica()} * replica_size + endpoint.local_rank();
    if (endpoint.rank() != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint.rank is ", endpoint.rank(), " but an inference rank of replica ",
                       endpoint.replica(), ", local_rank ", endpoint.local_rank(), " must be ",
                       expected, " (replica*tp*pp + local_rank)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateParameters(
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters) {
  absl::flat_hash_set<std::string> names;
  for (const v1::ParameterSpec& parameter : parameters) {
    if (parameter.name().empty() || parameter.name().size() > kMaxNameLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters[].name must be 1 to ", kMaxNameLength, " characters"));
    }
    if (!names.insert(parameter.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", parameter.name(), "' is listed twice"));
    }
    absl::StatusOr<uint64_t> bytes = TensorBytes(parameter.dtype(), parameter.shape());
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", parameter.name(), "': ", bytes.status().message()));
    }
    if (parameter.has_tp_split_dim() &&
        (parameter.tp_split_dim() < 0 || parameter.tp_split_dim() >= parameter.shape_size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter '", parameter.name(), "': tp_split_dim is ", parameter.tp_split_dim(),
          "; accepted: 0 to ", parameter.shape_size() - 1, " for a tensor of rank ",
          parameter.shape_size(), ", or absent when not split"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSameModelLayout(const v1::EndpointSpec& registered,
                                  const v1::EndpointSpec& incoming) {
  const v1::ParallelConfig& a = registered.parallel();
  const v1::ParallelConfig& b = incoming.parallel();
  if (registered.role() != incoming.role() || a.tp_size() != b.tp_size() ||
      a.pp_size() != b.pp_size() || a.ep_size() != b.ep_size() || a.dp_size() != b.dp_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint of model '", incoming.model(), "' rank ", incoming.rank(),
                     " has role/tp/pp/ep/dp ", incoming.role(), "/", b.tp_size(), "/", b.pp_size(),
                     "/", b.ep_size(), "/", b.dp_size(), " but rank ", registered.rank(),
                     " registered ", registered.role(), "/", a.tp_size(), "/", a.pp_size(), "/",
                     a.ep_size(), "/", a.dp_size(), ": every rank of a model must agree"));
  }
  return absl::OkStatus();
}

}  // namespace paramsync::coordinator
