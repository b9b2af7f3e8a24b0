// File: client/ctl/progress_view.h
// -----------------------------------------------------------------------------
// How `paramsyncctl sync` shows a sync's progress events (SyncWithProgress) to a
// person. On a terminal: one line redrawn in place, with a bar of the bytes
// written, the rate since the transfers began and the agents done. Elsewhere (a
// pipe, a log): one plain line per event, so logs keep every step.
//
// Example:
//   ProgressView view(std::cout, isatty(STDOUT_FILENO));
//   coordinator.SyncWithProgress(request, [&](const v1::SyncProgress& e) { view.Show(e); });
//   view.Finish();
#ifndef PARAMSYNC_CLIENT_CTL_PROGRESS_VIEW_H_
#define PARAMSYNC_CLIENT_CTL_PROGRESS_VIEW_H_

#include <ostream>
#include <string>

#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::ctl {

// "planning", "setting up", "warming up", "transferring", "committing", "done".
std::string PhaseName(v1::SyncPhase phase);

class ProgressView {
 public:
  // `out` must outlive the view; `bar_width` is the bar's length in characters.
  ProgressView(std::ostream& out, bool terminal, int bar_width = 30);

  void Show(const v1::SyncProgress& event);

  // On a terminal, ends the redrawn line so that what follows starts on a new
  // one. Call once, after the last event (or the error).
  void Finish();

  // The line Show() prints for `event`, given the events before it.
  std::string PlainLine(const v1::SyncProgress& event) const;
  std::string BarLine(const v1::SyncProgress& event) const;

 private:
  // Destination bytes per second since the transfers began; 0 before.
  double Rate(const v1::SyncProgress& event) const;

  std::ostream& out_;
  const bool terminal_;
  const int bar_width_;
  double transfer_start_ms_ = -1;  // elapsed_ms when SYNC_PHASE_TRANSFERRING began.
  size_t drawn_ = 0;               // Length of the line on the terminal now.
};

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_PROGRESS_VIEW_H_
