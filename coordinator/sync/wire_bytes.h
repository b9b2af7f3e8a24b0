// File: coordinator/sync/wire_bytes.h
// -----------------------------------------------------------------------------
// Bytes a plan's tasks move from one rank to another, however they travel
// (NCCL, host pushes, device copies on one GPU), each receiver counted: what
// SyncResponse.wire_bytes reports, so strategies can be compared. A regroup
// piece a rank takes from its own tensor moves nothing. Pure.
#ifndef PARAMSYNC_COORDINATOR_SYNC_WIRE_BYTES_H_
#define PARAMSYNC_COORDINATOR_SYNC_WIRE_BYTES_H_

#include <cstdint>

#include "paramsync/v1/agent.pb.h"

namespace paramsync::coordinator {

// Every receiver gets the sender's shard, or only its slice where the sender
// cuts it (TensorMove.sender_slices).
int64_t WireBytes(const v1::TransferTask& task);

// Each piece between two ranks: its box, or the sender's whole tensor where it
// sends that (RegroupPiece.send_whole).
int64_t WireBytes(const v1::RegroupTask& task);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_WIRE_BYTES_H_
