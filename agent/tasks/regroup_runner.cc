#include "agent/tasks/regroup_runner.h"

#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/status_macros.h"
#include "common/status_message.h"
#include "common/tensor_box.h"

namespace paramsync::agent {
namespace {

using Shape = absl::Span<const int64_t>;

// The receiver's tensor of `piece`.
const std::string& DstName(const v1::RegroupPiece& piece) {
  return piece.dst_name().empty() ? piece.name() : piece.dst_name();
}

std::string Describe(const v1::RegroupPiece& piece) {
  if (!piece.lands_in_tensor()) {
    return absl::StrCat("routed tensor '", piece.name(), "' from rank ", piece.src_sync_rank(),
                        " to rank ", piece.dst_sync_rank());
  }
  return absl::StrCat("tensor '", piece.name(), "' of rank ", piece.src_sync_rank(),
                      " into tensor '", DstName(piece), "' of rank ", piece.dst_sync_rank());
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
  if (status.ok() && piece.lands_in_tensor() && piece.send_whole()) {
    status = absl::InvalidArgumentError(
        "send_whole is for regroups; a piece that lands in a tensor sends its box");
  }
  if (status.ok()) {
    // TensorBytes refuses overflowing shapes. A regrouped tensor is never
    // smaller than the shard it draws from (the same size, or ep times it);
    // a registered destination is checked against the registry instead.
    absl::StatusOr<uint64_t> src = TensorBytes(piece.dtype(), piece.src_shape());
    absl::StatusOr<uint64_t> dst = TensorBytes(piece.dtype(), piece.dst_shape());
    if (!src.ok()) {
      status = src.status();
    } else if (!dst.ok()) {
      status = dst.status();
    } else if (!piece.lands_in_tensor() && *src > *dst) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "src_shape holds ", *src, " bytes, more than the ", *dst, "-byte regrouped tensor"));
    }
  }
  if (!status.ok()) {
    return WithMessage(status, absl::StrCat(Describe(piece), ": ", status.message()));
  }
  return absl::OkStatus();
}

// Where a piece lands on its receiver: a regrouped tensor in staging, or a
// registered tensor.
struct Target {
  char* data = nullptr;
  size_t size = 0;
};

// Everything this agent does for one task.
class Regroup {
 public:
  Regroup(const v1::RegroupTask& task, const CollectiveGroup& group, const RegroupContext& context)
      : task_(task), group_(group), context_(context) {}

  absl::Status Run() {
    if (task_.pieces_size() > kMaxRegroupPieces) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the task has ", task_.pieces_size(), " pieces; accepted: at most ", kMaxRegroupPieces));
    }
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
      Target target;
      if (receives) {
        ASSIGN_OR_RETURN(target, PrepareDestination(piece, *dst));
      }
      if (sends && receives) {
        RETURN_IF_ERROR(CopyLocal(piece, *src, target));
        continue;
      }
      const Pair pair(piece.src_sync_rank(), piece.dst_sync_rank());
      if ((sends || receives) && !sends_.count(pair) && !recvs_.count(pair) &&
          sends_.size() + recvs_.size() >= kMaxRegroupPairs) {
        return absl::InvalidArgumentError(
            absl::StrCat("the task exchanges between more than ", kMaxRegroupPairs,
                         " pairs of ranks on this agent; accepted: at most ", kMaxRegroupPairs));
      }
      if (sends) RETURN_IF_ERROR(AddSend(piece, *src));
      if (receives) RETURN_IF_ERROR(AddReceive(piece, target));
      // The next piece of the pair joins this one's operation.
      joining_[pair] = piece.joins_next();
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
    if (context_.bytes_written != nullptr) *context_.bytes_written += written_bytes_;
    if (context_.tensors_written != nullptr) {
      *context_.tensors_written += static_cast<int64_t>(landed_.size());
    }
    return absl::OkStatus();
  }

 private:
  using Unpack = std::function<absl::Status()>;
  using Pair = std::pair<int, int>;  // (sender, receiver) sync ranks.
  using TensorKey = std::pair<EndpointKey, std::string>;

  const v1::GroupMember* Member(int sync_rank) const { return group_.Member(sync_rank); }

  // A pair's transfer key: the task's id plus the sender's index in the group.
  uint64_t PairTaskId(int sender) const {
    for (int i = 0; i < group_.spec.members_size(); ++i) {
      if (group_.spec.members(i).sync_rank() == sender) return task_.task_id() + i;
    }
    return task_.task_id();
  }

  // The registered tensor `name` of `member`, which must hold `shape`.
  absl::StatusOr<TensorView> Registered(const v1::RegroupPiece& piece,
                                        const v1::GroupMember& member, const std::string& name,
                                        Shape shape) const {
    ASSIGN_OR_RETURN(TensorView view, context_.tensors->Find(KeyOf(member), name));
    const size_t expected = BoxBytes(shape, DTypeSize(piece.dtype()));
    if (view.nbytes != expected) {
      return absl::FailedPreconditionError(absl::StrCat(Describe(piece), ": tensor '", name,
                                                        "' has ", view.nbytes,
                                                        " bytes, the plan expects ", expected));
    }
    return view;
  }

  absl::StatusOr<TensorView> Source(const v1::RegroupPiece& piece, const v1::GroupMember& src) {
    return Registered(piece, src, piece.name(), piece.src_shape());
  }

  // Where `piece` lands on `dst`: its registered tensor, or the regrouped
  // tensor, allocated once.
  absl::StatusOr<Target> PrepareDestination(const v1::RegroupPiece& piece,
                                            const v1::GroupMember& dst) {
    const size_t bytes = BoxBytes(piece.dst_shape(), DTypeSize(piece.dtype()));
    if (piece.lands_in_tensor()) {
      ASSIGN_OR_RETURN(const TensorView tensor,
                       Registered(piece, dst, DstName(piece), piece.dst_shape()));
      // Pieces of a plan fill disjoint parts of a tensor: more bytes than it
      // holds is a malformed request, refused before anything is staged.
      const size_t box = BoxBytes(piece.dst_box().extent(), DTypeSize(piece.dtype()));
      size_t& landed = landed_[{KeyOf(dst), DstName(piece)}];
      if (landed + box > tensor.nbytes) {
        return absl::InvalidArgumentError(absl::StrCat(Describe(piece), ": the task's pieces land ",
                                                       landed + box, " bytes or more in the ",
                                                       tensor.nbytes, "-byte tensor"));
      }
      landed += box;
      written_bytes_ += static_cast<int64_t>(box);
      return Target{tensor.data, tensor.nbytes};
    }
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
    return Target{static_cast<char*>(buffer->data()), buffer->size()};
  }

  // Both ranks are this agent's: a box copy.
  absl::Status CopyLocal(const v1::RegroupPiece& piece, const v1::GroupMember& src,
                         const Target& target) {
    ASSIGN_OR_RETURN(const TensorView source, Source(piece, src));
    const BoxCopySpec copy{piece.src_shape(),        piece.src_box().start(),
                           piece.dst_shape(),        piece.dst_box().start(),
                           piece.src_box().extent(), DTypeSize(piece.dtype())};
    return context_.memory->CopyBox(copy, source.data, target.data);
  }

  // Appends `buffer` to `data`, or extends its last buffer with it where the
  // pair's previous piece joins this one. Both sides join the same runs, so
  // they issue the same operations; memory that is not adjacent after all
  // fails instead of desynchronizing them.
  template <typename Buffer>
  absl::Status Append(const v1::RegroupPiece& piece, std::vector<Buffer>& data, Buffer buffer) {
    if (!joining_[{piece.src_sync_rank(), piece.dst_sync_rank()}] || data.empty()) {
      data.push_back(buffer);
      return absl::OkStatus();
    }
    Buffer& run = data.back();
    if (static_cast<const char*>(run.data) + run.size != buffer.data) {
      return absl::FailedPreconditionError(
          absl::StrCat(Describe(piece),
                       ": the plan joins it to the piece before, but it does not follow that one "
                       "in memory; register the endpoint again"));
    }
    run.size += buffer.size;
    return absl::OkStatus();
  }

  // `piece`'s box of `source`, packed back to back: each distinct box of a
  // tensor once, however many receivers it goes to.
  absl::StatusOr<const StagingBuffer*> Packed(const v1::RegroupPiece& piece,
                                              const v1::GroupMember& src,
                                              const TensorView& source) {
    const Shape extent = piece.src_box().extent();
    const auto key = std::make_tuple(
        piece.src_sync_rank(), piece.name(),
        std::vector<int64_t>(piece.src_box().start().begin(), piece.src_box().start().end()),
        std::vector<int64_t>(extent.begin(), extent.end()));
    std::unique_ptr<StagingBuffer>& packed = packed_[key];
    if (packed != nullptr) return packed.get();
    const int element = DTypeSize(piece.dtype());
    const size_t bytes = BoxBytes(extent, element);
    uint64_t& total = packed_bytes_[{KeyOf(src), piece.name()}];
    if (total + bytes > kMaxPackedPerTensor * source.nbytes) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(piece), ": the task packs more than ",
                                                     kMaxPackedPerTensor, " times the tensor's ",
                                                     source.nbytes, " bytes out of it"));
    }
    total += bytes;
    ASSIGN_OR_RETURN(packed, context_.memory->Allocate(bytes));
    const std::vector<int64_t> zero(extent.size(), 0);
    RETURN_IF_ERROR(context_.memory->CopyBox(
        {piece.src_shape(), piece.src_box().start(), extent, zero, extent, element}, source.data,
        packed->data()));
    return packed.get();
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
      return Append(piece, send.data, ConstBuffer{source.data, source.nbytes});
    }
    if (IsContiguousBox(piece.src_shape(), extent)) {
      return Append(
          piece, send.data,
          ConstBuffer{source.data + BoxOffset(piece.src_shape(), piece.src_box().start(), element),
                      BoxBytes(extent, element)});
    }
    ASSIGN_OR_RETURN(const StagingBuffer* packed, Packed(piece, src, source));
    return Append(piece, send.data, ConstBuffer{packed->data(), packed->size()});
  }

  absl::Status AddReceive(const v1::RegroupPiece& piece, const Target& target) {
    const int element = DTypeSize(piece.dtype());
    ExchangeRecv& recv = recvs_[{piece.src_sync_rank(), piece.dst_sync_rank()}];
    recv.task_id = PairTaskId(piece.src_sync_rank());
    recv.sender_sync_rank = piece.src_sync_rank();
    recv.receiver_sync_rank = piece.dst_sync_rank();
    const Shape extent = piece.dst_box().extent();
    if (!SendsWhole(piece) && IsContiguousBox(piece.dst_shape(), extent)) {
      return Append(piece, recv.data,
                    MutableBuffer{target.data + BoxOffset(piece.dst_shape(),
                                                          piece.dst_box().start(), element),
                                  BoxBytes(extent, element)});
    }
    const Shape wire = WireShape(piece);
    ASSIGN_OR_RETURN(std::unique_ptr<StagingBuffer> landing,
                     context_.memory->Allocate(BoxBytes(wire, element)));
    RETURN_IF_ERROR(Append(piece, recv.data, MutableBuffer{landing->data(), landing->size()}));
    StagingBuffer* from = landing.get();
    scratch_.push_back(std::move(landing));
    // What arrived is the box itself, or the whole tensor the box is cut from.
    const bool whole = SendsWhole(piece);
    unpacks_.push_back([this, &piece, target, from, wire, whole, element] {
      const std::vector<int64_t> zero(wire.size(), 0);
      const BoxCopySpec copy{wire,
                             whole ? Shape(piece.src_box().start()) : Shape(zero),
                             piece.dst_shape(),
                             piece.dst_box().start(),
                             piece.dst_box().extent(),
                             element};
      return context_.memory->CopyBox(copy, from->data(), target.data);
    });
    return absl::OkStatus();
  }

  const v1::RegroupTask& task_;
  const CollectiveGroup& group_;
  const RegroupContext& context_;
  std::map<TensorKey, std::shared_ptr<StagingBuffer>> regrouped_;
  std::map<Pair, ExchangeSend> sends_;
  std::map<Pair, ExchangeRecv> recvs_;
  std::map<Pair, bool> joining_;  // The pair's last piece joins the next.
  // Packed boxes by (sender, tensor, start, extent), and bytes packed per tensor.
  std::map<std::tuple<int, std::string, std::vector<int64_t>, std::vector<int64_t>>,
           std::unique_ptr<StagingBuffer>>
      packed_;
  std::map<TensorKey, uint64_t> packed_bytes_;
  std::map<TensorKey, size_t> landed_;  // Bytes landing in each registered tensor here.
  int64_t written_bytes_ = 0;
  std::vector<std::unique_ptr<StagingBuffer>> scratch_;  // Landed pieces.
  std::vector<Unpack> unpacks_;
};

}  // namespace

absl::Status RunRegroup(const v1::RegroupTask& task, const CollectiveGroup& group,
                        const RegroupContext& context) {
  return Regroup(task, group, context).Run();
}

}  // namespace paramsync::agent
