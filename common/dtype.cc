#include "common/dtype.h"

#include "absl/strings/str_cat.h"

namespace paramsync {
namespace {

struct DTypeInfo {
  v1::DType dtype;
  const char* name;
  int size;
};

constexpr DTypeInfo kDTypes[] = {
    {v1::DTYPE_FLOAT32, "float32", 4},   {v1::DTYPE_FLOAT16, "float16", 2},
    {v1::DTYPE_BFLOAT16, "bfloat16", 2}, {v1::DTYPE_FLOAT64, "float64", 8},
    {v1::DTYPE_INT8, "int8", 1},         {v1::DTYPE_UINT8, "uint8", 1},
    {v1::DTYPE_INT32, "int32", 4},       {v1::DTYPE_INT64, "int64", 8},
};

constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 48;

}  // namespace

int DTypeSize(v1::DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

std::string DTypeName(v1::DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return absl::StrCat("dtype(", static_cast<int>(dtype), ")");
}

absl::StatusOr<v1::DType> DTypeFromName(const std::string& name) {
  std::string accepted;
  for (const DTypeInfo& info : kDTypes) {
    if (name == info.name) return info.dtype;
    absl::StrAppend(&accepted, accepted.empty() ? "" : ", ", info.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype '", name, "' is not supported; accepted: ", accepted));
}

absl::StatusOr<uint64_t> TensorBytes(v1::DType dtype, absl::Span<const int64_t> shape) {
  const int element_size = DTypeSize(dtype);
  if (element_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", static_cast<int>(dtype), " is not a known paramsync.v1.DType"));
  }
  uint64_t bytes = element_size;
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(absl::StrCat("shape has negative dimension ", dim));
    }
    if (dim != 0 && bytes > kMaxTensorBytes / static_cast<uint64_t>(dim)) {
      return absl::InvalidArgumentError("shape describes a tensor over 2^48 bytes");
    }
    bytes *= static_cast<uint64_t>(dim);
  }
  return bytes;
}

}  // namespace paramsync
