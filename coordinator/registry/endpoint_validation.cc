#include "coordinator/registry/endpoint_validation.h"

#include <map>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "coordinator/reshard/box_algebra.h"

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

// INVALID_ARGUMENT unless `box` (field `field` of a piece) has `rank`
// dimensions, extents of at least 1 and lies inside `shape`.
absl::Status CheckPieceBox(const char* field, const v1::TensorBox& box,
                           absl::Span<const int64_t> shape, const char* inside) {
  const int rank = static_cast<int>(shape.size());
  if (box.start_size() != rank || box.extent_size() != rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has ", box.start_size(), " starts and ", box.extent_size(),
        " extents; accepted: one each per dimension of the ", rank, "-dimensional ", inside));
  }
  for (int d = 0; d < rank; ++d) {
    if (box.extent(d) < 1 || box.start(d) < 0 || box.start(d) > shape[d] - box.extent(d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " (start ", ShapeString(box.start()), ", extent ", ShapeString(box.extent()),
          ") is not inside the ", inside, " ", ShapeString(shape), " in dimension ", d,
          "; accepted: extent >= 1 and 0 <= start <= size - extent"));
    }
  }
  return absl::OkStatus();
}

// One piece on its own, against its tensor.
absl::Status CheckPiece(const v1::LogicalPiece& piece, const v1::ParameterSpec& tensor) {
  if (piece.logical_name().empty() || piece.logical_name().size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("logical_name must be 1 to ", kMaxNameLength, " characters"));
  }
  if (piece.logical_shape_size() != tensor.shape_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "logical_shape ", ShapeString(piece.logical_shape()), " has ", piece.logical_shape_size(),
        " dimensions; accepted: the tensor's ", tensor.shape_size()));
  }
  absl::StatusOr<uint64_t> bytes = TensorBytes(tensor.dtype(), piece.logical_shape());
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "logical_shape ", ShapeString(piece.logical_shape()), ": ", bytes.status().message()));
  }
  absl::Status status =
      CheckPieceBox("local_box", piece.local_box(), tensor.shape(), "tensor of shape");
  if (status.ok()) {
    status = CheckPieceBox("logical_box", piece.logical_box(), piece.logical_shape(),
                           "logical parameter of shape");
  }
  if (status.ok() &&
      !std::equal(piece.local_box().extent().begin(), piece.local_box().extent().end(),
                  piece.logical_box().extent().begin())) {
    status = absl::InvalidArgumentError(
        absl::StrCat("local_box extent ", ShapeString(piece.local_box().extent()),
                     " differs from logical_box "
                     "extent ",
                     ShapeString(piece.logical_box().extent()), "; accepted: equal extents"));
  }
  return status;
}

}  // namespace

absl::Status ValidateLogicalPieces(
    const v1::EndpointSpec& endpoint,
    const google::protobuf::RepeatedPtrField<v1::ParameterSpec>& parameters) {
  // Logical name -> (tensor, piece index) of its first piece.
  std::map<std::string, std::pair<const v1::ParameterSpec*, int>> shapes;
  for (const v1::ParameterSpec& tensor : parameters) {
    const std::string where = absl::StrCat("endpoint ", endpoint.model(), " rank ", endpoint.rank(),
                                           " tensor '", tensor.name(), "' ");
    if (tensor.logical_size() > kMaxLogicalPiecesPerTensor) {
      return absl::InvalidArgumentError(absl::StrCat(where, "has ", tensor.logical_size(),
                                                     " logical pieces; accepted: at most ",
                                                     kMaxLogicalPiecesPerTensor));
    }
    std::vector<Box> local;
    for (int i = 0; i < tensor.logical_size(); ++i) {
      const v1::LogicalPiece& piece = tensor.logical(i);
      const std::string at = absl::StrCat(where, "logical[", i, "]: ");
      if (absl::Status status = CheckPiece(piece, tensor); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(at, status.message()));
      }
      const Box box{Shape(piece.local_box().start().begin(), piece.local_box().start().end()),
                    Shape(piece.local_box().extent().begin(), piece.local_box().extent().end())};
      for (size_t j = 0; j < local.size(); ++j) {
        if (std::optional<Box> common = Intersect(local[j], box)) {
          return absl::InvalidArgumentError(absl::StrCat(
              at, "local_box overlaps logical[", j, "]'s at ", ShapeString(common->start),
              "; accepted: pieces of one tensor hold disjoint elements"));
        }
      }
      local.push_back(box);
      auto [first, inserted] = shapes.try_emplace(piece.logical_name(), &tensor, i);
      const v1::LogicalPiece& other = first->second.first->logical(first->second.second);
      if (!inserted && !std::equal(other.logical_shape().begin(), other.logical_shape().end(),
                                   piece.logical_shape().begin(), piece.logical_shape().end())) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, "logical parameter '", piece.logical_name(), "' has logical_shape ",
            ShapeString(piece.logical_shape()), " here but ", ShapeString(other.logical_shape()),
            " in tensor '", first->second.first->name(), "' logical[", first->second.second,
            "]; accepted: one shape per logical name"));
      }
    }
  }
  return absl::OkStatus();
}

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
