#include "client/ctl/progress_view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/ctl/human_units.h"

namespace paramsync::ctl {
namespace {

// "1.00 MiB of 2.00 MiB (50%)"; just the total before any byte is expected.
std::string BytesPart(const v1::SyncProgress& event) {
  if (event.bytes_total() <= 0) return HumanBytes(event.bytes_done());
  return absl::StrFormat("%s of %s (%d%%)", HumanBytes(event.bytes_done()),
                         HumanBytes(event.bytes_total()),
                         static_cast<int>(100 * event.bytes_done() / event.bytes_total()));
}

std::string AgentsPart(const v1::SyncProgress& event) {
  return absl::StrCat(event.agents_done(), "/", event.agents_total(), " agents");
}

std::string ReportPart(const v1::SyncProgress& event) {
  const v1::SyncResponse& report = event.report();
  return absl::StrCat("version ", report.version(), ", ", report.tensors(), " tensors, ",
                      HumanBytes(report.bytes()));
}

}  // namespace

std::string PhaseName(v1::SyncPhase phase) {
  switch (phase) {
    case v1::SYNC_PHASE_PLANNING:
      return "planning";
    case v1::SYNC_PHASE_SETTING_UP:
      return "setting up";
    case v1::SYNC_PHASE_WARMING_UP:
      return "warming up";
    case v1::SYNC_PHASE_TRANSFERRING:
      return "transferring";
    case v1::SYNC_PHASE_VALIDATING:
      return "validating";
    case v1::SYNC_PHASE_COMMITTING:
      return "committing";
    case v1::SYNC_PHASE_DONE:
      return "done";
    default:
      return absl::StrCat("phase ", static_cast<int>(phase));
  }
}

ProgressView::ProgressView(std::ostream& out, bool terminal, int bar_width)
    : out_(out), terminal_(terminal), bar_width_(bar_width) {}

double ProgressView::Rate(const v1::SyncProgress& event) const {
  if (transfer_start_ms_ < 0) return 0;
  const double seconds = (event.elapsed_ms() - transfer_start_ms_) / 1000.0;
  return seconds > 0 ? static_cast<double>(event.bytes_done()) / seconds : 0;
}

std::string ProgressView::PlainLine(const v1::SyncProgress& event) const {
  std::string line = absl::StrFormat("[%9.1f ms] %s", event.elapsed_ms(), PhaseName(event.phase()));
  switch (event.phase()) {
    case v1::SYNC_PHASE_PLANNING:
      break;
    case v1::SYNC_PHASE_TRANSFERRING:
      absl::StrAppend(&line, ": ", AgentsPart(event), ", ", BytesPart(event));
      if (const double rate = Rate(event); rate > 0) absl::StrAppend(&line, ", ", HumanRate(rate));
      break;
    case v1::SYNC_PHASE_DONE:
      absl::StrAppend(&line, ": ", ReportPart(event));
      break;
    default:
      absl::StrAppend(&line, ": ", AgentsPart(event));
  }
  return line;
}

std::string ProgressView::BarLine(const v1::SyncProgress& event) const {
  const double fraction = event.phase() == v1::SYNC_PHASE_DONE ? 1.0
                          : event.bytes_total() > 0 ? static_cast<double>(event.bytes_done()) /
                                                          static_cast<double>(event.bytes_total())
                                                    : 0.0;
  const int filled = std::clamp(static_cast<int>(fraction * bar_width_), 0, bar_width_);
  std::string line = absl::StrFormat(
      "%-12s [%s%s] %3d%%  %s/%s", PhaseName(event.phase()), std::string(filled, '#'),
      std::string(bar_width_ - filled, '-'), static_cast<int>(fraction * 100),
      HumanBytes(event.bytes_done()), HumanBytes(event.bytes_total()));
  if (const double rate = Rate(event); rate > 0) absl::StrAppend(&line, "  ", HumanRate(rate));
  absl::StrAppend(&line, "  ", AgentsPart(event));
  return line;
}

void ProgressView::Show(const v1::SyncProgress& event) {
  if (event.phase() == v1::SYNC_PHASE_TRANSFERRING && transfer_start_ms_ < 0) {
    transfer_start_ms_ = event.elapsed_ms();
  }
  if (!terminal_) {
    out_ << PlainLine(event) << std::endl;
    return;
  }
  const std::string line = BarLine(event);
  // Spaces over what is left of a longer line drawn before.
  out_ << '\r' << line << std::string(drawn_ > line.size() ? drawn_ - line.size() : 0, ' ')
       << std::flush;
  drawn_ = line.size();
}

void ProgressView::Finish() {
  if (terminal_ && drawn_ > 0) out_ << std::endl;
  drawn_ = 0;
}

}  // namespace paramsync::ctl
