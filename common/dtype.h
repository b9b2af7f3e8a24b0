// File: common/dtype.h
// -----------------------------------------------------------------------------
// Element sizes and names of paramsync.v1.DType.
#ifndef PARAMSYNC_COMMON_DTYPE_H_
#define PARAMSYNC_COMMON_DTYPE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync {

// Bytes per element; 0 for DTYPE_UNSPECIFIED or a value outside the enum.
int DTypeSize(v1::DType dtype);

// "float32", "bfloat16", ...; what the Python client and the CLI print and parse.
std::string DTypeName(v1::DType dtype);
absl::StatusOr<v1::DType> DTypeFromName(const std::string& name);

// Bytes of a tensor of `shape`; INVALID_ARGUMENT for a negative dimension, an
// unknown dtype, or a size over 2^48 bytes (no real parameter is that large;
// the bound keeps hostile shapes from overflowing).
absl::StatusOr<uint64_t> TensorBytes(v1::DType dtype, absl::Span<const int64_t> shape);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_DTYPE_H_
