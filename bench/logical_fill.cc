#include "bench/logical_fill.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/model_layout.h"
#include "common/dtype.h"
#include "common/tensor_box.h"

namespace paramsync::bench {

absl::Status FillFromPieces(const v1::ParameterSpec& tensor, uint64_t seed, int64_t version,
                            void* out, uint64_t out_bytes) {
  absl::StatusOr<uint64_t> bytes = TensorBytes(tensor.dtype(), tensor.shape());
  if (!bytes.ok()) return bytes.status();
  if (*bytes != out_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", tensor.name(), "' has ", *bytes, " bytes but the buffer ", out_bytes));
  }
  std::memset(out, 0, out_bytes);
  const int element = DTypeSize(tensor.dtype());
  for (const v1::LogicalPiece& piece : tensor.logical()) {
    absl::StatusOr<uint64_t> logical_bytes = TensorBytes(tensor.dtype(), piece.logical_shape());
    if (!logical_bytes.ok()) return logical_bytes.status();
    const std::vector<uint64_t> words =
        FullTensorWords(piece.logical_name(), *logical_bytes, seed, version);
    const BoxCopySpec copy{piece.logical_shape(),     piece.logical_box().start(), tensor.shape(),
                           piece.local_box().start(), piece.local_box().extent(),  element};
    absl::Status status = CopyBoxOnHost(copy, words.data(), *logical_bytes, out, out_bytes);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", tensor.name(), "' piece of '", piece.logical_name(), "': ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace paramsync::bench
