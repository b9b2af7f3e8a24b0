#include "agent/tasks/regroup_runner.h"

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/status_macros.h"
#include "common/tensor_box.h"

namespace paramsync::agent {
namespace {

using Shape = absl::Span<const int64_t>;

std::string Describe(const v1::RegroupPiece& piece) {
  return absl::StrCat("routed tensor '", piece.name(), "' from rank ", piece.src_sync_rank(),
                      " to rank ", piece.dst_sync_rank());
}

// Whether the sender sends its whole tensor (all-gather) rather than the box.
bool SendsWhole(const v1::RegroupPiece& piece) {
  if (!piece.send_whole()) return false;
  const auto& box = piece.src_box();
  for (int d = 0; d < piece.src_shape_size(); ++d) {
    if (box.start(d) != 0 || box.extent(d) != piece.src_shape(d)) return true;
  }
  return false;  // The box is the whole tensor anyway.
}

// A piece as it travels: the whole source tensor, or just its box.
Shape WireShape(const v1::RegroupPiece& piece) {
  return SendsWhole(piece) ? Shape(piece.src_shape()) : Shape(piece.src_box().extent());
}

absl::Status CheckPiece(const v1::RegroupPiece& piece) {
  absl::Status status =
      ValidateBox(piece.src_shape(), piece.src_box().start(), piece.src_box().extent());
  if (status.ok()) {
    status = ValidateBox(piece.dst_shape(), piece.dst_box().start(), piece.dst_box().extent());
  }
  if (status.ok() &&
      !std::equal(piece.src_box().extent().begin(), piece.src_box().extent().end(),
                  piece.dst_box().extent().begin(), piece.dst_box().extent().end())) {
    status = absl::InvalidArgumentError("source and destination boxes differ in extent");
  }
  if (status.ok() && DTypeSize(piece.dtype()) == 0) {
    status = absl::InvalidArgumentError(
        absl::StrCat("dtype ", v1::DType_Name(piece.dtype()), " has no element size"));
  }
  if (status.ok()) {
    // A regrouped tensor is never smaller than the shard it draws from (the
    // same size, or ep times it); TensorBytes also refuses overflowing shapes.
    absl::StatusOr<uint64_t> src = TensorBytes(piece.dtype(), piece.src_shape());
    absl::StatusOr<uint64_t> dst = TensorBytes(piece.dtype(), piece.dst_shape());
    if (!src.ok()) {
      status = src.status();
    } else if (!dst.ok()) {
      status = dst.status();
    } else if (*src > *dst) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "src_shape holds ", *src, " bytes, more than the ", *dst, "-byte regrouped tensor"));
    }
  }
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(Describe(piece), ": ", status.message()));
  }
  return absl::OkStatus();
}

// Everything this agent does for one task.
class Regroup {
 public:
  Regroup(const v1::RegroupTask& task, const CollectiveGroup& group, const RegroupContext& context)
      : task_(task), group_(group), context_(context) {}

  absl::Status Run() {
    for (const v1::RegroupPiece& piece : task_.pieces()) {
      RETURN_IF_ERROR(CheckPiece(piece));
      const v1::GroupMember* src = Member(piece.src_sync_rank());
      const v1::GroupMember* dst = Member(piece.dst_sync_rank());
      if (src == nullptr || dst == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(Describe(piece), ": a rank is not in group ", task_.group()));
      }
      const bool sends = src->agent_address() == context_.self_address;
      const bool receives = dst->agent_address() == context_.self_address;
      if (receives) RETURN_IF_ERROR(PrepareDestination(piece, *dst));
      if (sends && receives && piece.src_sync_rank() == piece.dst_sync_rank()) {
        RETURN_IF_ERROR(CopyOwnPiece(piece, *src));
        continue;
      }
      if (sends) RETURN_IF_ERROR(AddSend(piece, *src));
      if (receives) RETURN_IF_ERROR(AddReceive(piece, *dst));
    }
    std::vector<ExchangeSend> sends;
    for (auto& [pair, send] : sends_) sends.push_back(std::move(send));
    std::vector<ExchangeRecv> recvs;
    for (auto& [pair, recv] : recvs_) recvs.push_back(std::move(recv));
    RETURN_IF_ERROR(context_.transport->Exchange(group_.view, context_.sync_id, sends, recvs,
                                                 context_.deadline));
    for (const Unpack& unpack : unpacks_) RETURN_IF_ERROR(unpack());
    for (auto& [key, buffer] : regrouped_) {
      context_.staging->Put(key.first, key.second, std::move(buffer));
    }
    return absl::OkStatus();
  }

 private:
  using Unpack = std::function<absl::Status()>;
  using Pair = std::pair<int, int>;  // (sender, receiver) sync ranks.

  const v1::GroupMember* Member(int sync_rank) const { return group_.Member(sync_rank); }

  // A pair's transfer key: the task's id plus the sender's index in the group.
  uint64_t PairTaskId(int sender) const {
    for (int i = 0; i < group_.spec.members_size(); ++i) {
      if (group_.spec.members(i).sync_rank() == sender) return task_.task_id() + i;
    }
    return task_.task_id();
  }

  absl::StatusOr<TensorView> Source(const v1::RegroupPiece& piece, const v1::GroupMember& src) {
    ASSIGN_OR_RETURN(TensorView view, context_.tensors->Find(KeyOf(src), piece.name()));
    const size_t expected = BoxBytes(piece.src_shape(), DTypeSize(piece.dtype()));
    if (view.nbytes != expected) {
      return absl::FailedPreconditionError(absl::StrCat(Describe(piece), ": the tensor has ",
                                                        view.nbytes, " bytes, the plan expects ",
                                                        expected));
    }
    return view;
  }

  // The regrouped tensor of `dst` that `piece` lands in, allocated once.
  absl::Status PrepareDestination(const v1::RegroupPiece& piece, const v1::GroupMember& dst) {
    const size_t bytes = BoxBytes(piece.dst_shape(), DTypeSize(piece.dtype()));
    std::shared_ptr<StagingBuffer>& buffer = regrouped_[{KeyOf(dst), piece.name()}];
    if (buffer == nullptr) {
      // The rank's own shard bounds what a request can make it allocate: a
      // regrouped tensor holds at most every member's shard.
      ASSIGN_OR_RETURN(const TensorView own, context_.tensors->Find(KeyOf(dst), piece.name()));
      if (bytes > own.nbytes * static_cast<size_t>(group_.spec.members_size())) {
        return absl::InvalidArgumentError(
            absl::StrCat(Describe(piece), ": a ", bytes, "-byte regrouped tensor is more than the ",
                         group_.spec.members_size(), " members' ", own.nbytes, "-byte shards"));
      }
      ASSIGN_OR_RETURN(std::unique_ptr<StagingBuffer> fresh, context_.memory->Allocate(bytes));
      buffer = std::move(fresh);
    } else if (buffer->size() != bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(piece), ": pieces disagree on the regrouped tensor's size"));
    }
    return absl::OkStatus();
  }

  StagingBuffer& Destination(const v1::RegroupPiece& piece, const v1::GroupMember& dst) {
    return *regrouped_[{KeyOf(dst), piece.name()}];
  }

  absl::Status CopyOwnPiece(const v1::RegroupPiece& piece, const v1::GroupMember& member) {
    ASSIGN_OR_RETURN(const TensorView source, Source(piece, member));
    BoxCopySpec copy{piece.src_shape(),       piece.src_box().start(),  piece.dst_shape(),
                     piece.dst_box().start(), piece.src_box().extent(), DTypeSize(piece.dtype())};
    return context_.memory->CopyBox(copy, source.data, Destination(piece, member).data());
  }

  absl::Status AddSend(const v1::RegroupPiece& piece, const v1::GroupMember& src) {
    ASSIGN_OR_RETURN(const TensorView source, Source(piece, src));
    const int element = DTypeSize(piece.dtype());
    ExchangeSend& send = sends_[{piece.src_sync_rank(), piece.dst_sync_rank()}];
    send.task_id = PairTaskId(piece.src_sync_rank());
    send.sender_sync_rank = piece.src_sync_rank();
    send.receiver_sync_rank = piece.dst_sync_rank();
    const Shape extent = piece.src_box().extent();
    if (SendsWhole(piece)) {
      send.data.push_back(ConstBuffer{source.data, source.nbytes});
    } else if (IsContiguousBox(piece.src_shape(), extent)) {
      send.data.push_back(
          ConstBuffer{static_cast<const char*>(source.data) +
                          BoxOffset(piece.src_shape(), piece.src_box().start(), element),
                      BoxBytes(extent, element)});
    } else {
      ASSIGN_OR_RETURN(std::unique_ptr<StagingBuffer> packed,
                       context_.memory->Allocate(BoxBytes(extent, element)));
      const std::vector<int64_t> zero(extent.size(), 0);
      RETURN_IF_ERROR(context_.memory->CopyBox(
          {piece.src_shape(), piece.src_box().start(), extent, zero, extent, element}, source.data,
          packed->data()));
      send.data.push_back(ConstBuffer{packed->data(), packed->size()});
      scratch_.push_back(std::move(packed));
    }
    return absl::OkStatus();
  }

  absl::Status AddReceive(const v1::RegroupPiece& piece, const v1::GroupMember& dst) {
    const int element = DTypeSize(piece.dtype());
    ExchangeRecv& recv = recvs_[{piece.src_sync_rank(), piece.dst_sync_rank()}];
    recv.task_id = PairTaskId(piece.src_sync_rank());
    recv.sender_sync_rank = piece.src_sync_rank();
    recv.receiver_sync_rank = piece.dst_sync_rank();
    StagingBuffer& destination = Destination(piece, dst);
    const Shape extent = piece.dst_box().extent();
    if (!SendsWhole(piece) && IsContiguousBox(piece.dst_shape(), extent)) {
      recv.data.push_back(
          MutableBuffer{static_cast<char*>(destination.data()) +
                            BoxOffset(piece.dst_shape(), piece.dst_box().start(), element),
                        BoxBytes(extent, element)});
      return absl::OkStatus();
    }
    const Shape wire = WireShape(piece);
    ASSIGN_OR_RETURN(std::unique_ptr<StagingBuffer> landing,
                     context_.memory->Allocate(BoxBytes(wire, element)));
    recv.data.push_back(MutableBuffer{landing->data(), landing->size()});
    StagingBuffer* from = landing.get();
    scratch_.push_back(std::move(landing));
    // What arrived is the box itself, or the whole tensor the box is cut from.
    const bool whole = SendsWhole(piece);
    unpacks_.push_back([this, &piece, &destination, from, wire, whole, element] {
      const std::vector<int64_t> zero(wire.size(), 0);
      const BoxCopySpec copy{wire,
                             whole ? Shape(piece.src_box().start()) : Shape(zero),
                             piece.dst_shape(),
                             piece.dst_box().start(),
                             piece.dst_box().extent(),
                             element};
      return context_.memory->CopyBox(copy, from->data(), destination.data());
    });
    return absl::OkStatus();
  }

  const v1::RegroupTask& task_;
  const CollectiveGroup& group_;
  const RegroupContext& context_;
  std::map<std::pair<EndpointKey, std::string>, std::shared_ptr<StagingBuffer>> regrouped_;
  std::map<Pair, ExchangeSend> sends_;
  std::map<Pair, ExchangeRecv> recvs_;
  std::vector<std::unique_ptr<StagingBuffer>> scratch_;  // Packed and landed pieces.
  std::vector<Unpack> unpacks_;
};

}  // namespace

absl::Status RunRegroup(const v1::RegroupTask& task, const CollectiveGroup& group,
                        const RegroupContext& context) {
  return Regroup(task, group, context).Run();
}

}  // namespace paramsync::agent
