// File: bench/logical_fill.h
// -----------------------------------------------------------------------------
// Deterministic contents of tensors that hold logical pieces (ParameterSpec.
// logical, e.g. from a layout preset): each piece holds its box of its logical
// parameter's values (FullTensorWords of the logical name), every other element
// (vocabulary padding) is zero. Any rank of any framework layout thus derives
// the bytes it must hold for a version without talking to the others.
#ifndef PARAMSYNC_BENCH_LOGICAL_FILL_H_
#define PARAMSYNC_BENCH_LOGICAL_FILL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::bench {

// Writes the bytes `tensor` holds at weights `version` (seeded by `seed`) into
// `out`, which has exactly the tensor's bytes (checked).
absl::Status FillFromPieces(const v1::ParameterSpec& tensor, uint64_t seed, int64_t version,
                            void* out, uint64_t out_bytes);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_LOGICAL_FILL_H_
