#include "coordinator/sync/wire_bytes.h"

#include "common/dtype.h"

namespace paramsync::coordinator {

int64_t WireBytes(const v1::TransferTask& task) {
  int64_t bytes = 0;
  for (const v1::TensorMove& move : task.tensors()) {
    int64_t shard = static_cast<int64_t>(TensorBytes(move.dtype(), move.wire_shape()).value_or(0));
    if (move.sender_slices() && move.num_slices() > 1) shard /= move.num_slices();
    bytes += shard * task.receivers_size();
  }
  return bytes;
}

int64_t WireBytes(const v1::RegroupTask& task) {
  int64_t bytes = 0;
  for (const v1::RegroupPiece& piece : task.pieces()) {
    if (piece.src_sync_rank() == piece.dst_sync_rank()) continue;
    const auto& shape = piece.send_whole() ? piece.src_shape() : piece.src_box().extent();
    bytes += static_cast<int64_t>(TensorBytes(piece.dtype(), shape).value_or(0));
  }
  return bytes;
}

}  // namespace paramsync::coordinator
