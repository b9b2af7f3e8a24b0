// paramsyncctl's parts that need no coordinator: its command-line parsing, exit
// codes, tables, units and progress lines.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "client/ctl/command_line.h"
#include "client/ctl/ctl_flags.h"
#include "client/ctl/exit_codes.h"
#include "client/ctl/human_units.h"
#include "client/ctl/output.h"
#include "client/ctl/progress_view.h"
#include "client/ctl/table_printer.h"

namespace paramsync::ctl {
namespace {

TEST_CASE("The command line sets flags in every form and refuses bad ones", "[ctl]") {
  absl::StatusOr<CommandLine> line = ParseCommandLine(
      {"sync", "--group", "g1", "--dry_run", "--nowarmup", "--timeout_s=7", "-output=json"});
  INFO(line.status().ToString());
  REQUIRE(line.ok());
  CHECK(line->positional == std::vector<std::string>{"sync"});
  CHECK_FALSE(line->help);
  CHECK(absl::GetFlag(FLAGS_group) == "g1");
  CHECK(absl::GetFlag(FLAGS_dry_run));
  CHECK_FALSE(absl::GetFlag(FLAGS_warmup));
  CHECK(absl::GetFlag(FLAGS_timeout_s) == 7);
  CHECK(absl::GetFlag(FLAGS_output) == "json");

  line = ParseCommandLine({"watch", "--since=90s", "--", "--not-a-flag"});
  REQUIRE(line.ok());
  CHECK(absl::GetFlag(FLAGS_since) == absl::Seconds(90));
  CHECK(line->positional == std::vector<std::string>{"watch", "--not-a-flag"});
  CHECK(ParseCommandLine({"-h"})->help);

  auto refused = [](const std::vector<std::string>& args, const std::string& message) {
    absl::StatusOr<CommandLine> bad = ParseCommandLine(args);
    INFO(bad.status().ToString());
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(bad.status().message(), message));
  };
  refused({"status", "--colour=red"}, "unknown flag --colour=red");
  refused({"status", "--timeout_s=soon"}, "--timeout_s=soon");
  refused({"sync", "--group"}, "flag --group needs a value");
  refused({"sync", "--dry_run=maybe"}, "--dry_run=maybe");
  refused({"watch", "--since=forever"}, "--since=forever");
}

TEST_CASE("Exit codes tell unreachable, not found and failed syncs apart", "[ctl]") {
  CHECK(ExitCodeFor(absl::OkStatus()) == kExitOk);
  CHECK(ExitCodeFor(absl::UnavailableError("down")) == kExitUnavailable);
  CHECK(ExitCodeFor(absl::DeadlineExceededError("slow")) == kExitUnavailable);
  CHECK(ExitCodeFor(absl::NotFoundError("group")) == kExitNotFound);
  CHECK(ExitCodeFor(absl::UnauthenticatedError("token")) == kExitFailed);
  CHECK(ExitCodeFor(absl::InvalidArgumentError("spec")) == kExitFailed);
  // Once the coordinator took the sync, any failure is the sync's, even an agent's UNAVAILABLE.
  CHECK(ExitCodeFor(absl::UnavailableError("agent lost"), true) == kExitSyncFailed);
  CHECK(ExitCodeFor(absl::AbortedError("peer failed"), true) == kExitSyncFailed);
  CHECK(ExitCodeFor(absl::NotFoundError("model"), true) == kExitNotFound);
  CHECK(absl::StrContains(kExitCodesHelp, "4  the sync ran and failed"));
}

TEST_CASE("Tables align columns and drop trailing spaces", "[ctl]") {
  TablePrinter table({"NAME", "VALUE", "NOTE"});
  table.AddRow({"a", "12345"});
  table.AddRow({"longer-name", "1", "x"});
  CHECK(table.ToString() ==
        "NAME         VALUE  NOTE\n"
        "a            12345\n"
        "longer-name  1      x\n");
}

TEST_CASE("Sizes, rates and durations read as people write them", "[ctl]") {
  CHECK(HumanBytes(0) == "0 B");
  CHECK(HumanBytes(1023) == "1023 B");
  CHECK(HumanBytes(1536) == "1.50 KiB");
  CHECK(HumanBytes(20 * 1024 * 1024) == "20.0 MiB");
  CHECK(HumanBytes(int64_t{7850} * 1024 * 1024 * 1024 / 1000) == "7.85 GiB");
  CHECK(HumanRate(512.0 * 1024 * 1024) == "512 MiB/s");
  CHECK(HumanDuration(absl::Milliseconds(850)) == "850 ms");
  CHECK(HumanDuration(absl::Milliseconds(2440)) == "2.4 s");
  CHECK(HumanDuration(absl::Seconds(192)) == "3m12s");
  CHECK(HumanDuration(absl::Minutes(303)) == "5h3m");
}

v1::SyncProgress Event(v1::SyncPhase phase, double elapsed_ms, int64_t done, int agents_done) {
  v1::SyncProgress event;
  event.set_group("g");
  event.set_phase(phase);
  event.set_elapsed_ms(elapsed_ms);
  event.set_bytes_total(4 * 1024 * 1024);
  event.set_bytes_done(done);
  event.set_agents_total(2);
  event.set_agents_done(agents_done);
  return event;
}

TEST_CASE("Progress off a terminal is one plain line per event", "[ctl]") {
  std::ostringstream out;
  ProgressView view(out, /*terminal=*/false);
  view.Show(Event(v1::SYNC_PHASE_PLANNING, 0.2, 0, 0));
  view.Show(Event(v1::SYNC_PHASE_TRANSFERRING, 1000, 0, 0));
  view.Show(Event(v1::SYNC_PHASE_TRANSFERRING, 2000, 2 * 1024 * 1024, 1));
  v1::SyncProgress done = Event(v1::SYNC_PHASE_DONE, 2500, 4 * 1024 * 1024, 2);
  done.mutable_report()->set_version(3);
  done.mutable_report()->set_tensors(12);
  done.mutable_report()->set_bytes(4 * 1024 * 1024);
  view.Show(done);
  view.Finish();
  CHECK(out.str() ==
        "[      0.2 ms] planning\n"
        "[   1000.0 ms] transferring: 0/2 agents, 0 B of 4.00 MiB (0%)\n"
        "[   2000.0 ms] transferring: 1/2 agents, 2.00 MiB of 4.00 MiB (50%), 2.00 MiB/s\n"
        "[   2500.0 ms] done: version 3, 12 tensors, 4.00 MiB\n");
}

TEST_CASE("Progress on a terminal redraws one bar with bytes per second", "[ctl]") {
  std::ostringstream out;
  ProgressView view(out, /*terminal=*/true, /*bar_width=*/10);
  view.Show(Event(v1::SYNC_PHASE_TRANSFERRING, 1000, 0, 0));
  view.Show(Event(v1::SYNC_PHASE_TRANSFERRING, 1500, 1024 * 1024, 1));
  view.Finish();
  const std::string first = "transferring [----------]   0%  0 B/4.00 MiB  0/2 agents";
  const std::string second =
      "transferring [##--------]  25%  1.00 MiB/4.00 MiB  2.00 MiB/s  1/2 agents";
  CHECK(out.str() == "\r" + first + "\r" + second + "\n");
}

TEST_CASE("JSON output is the proto's JSON, errors an error object", "[ctl]") {
  v1::SyncProgress event = Event(v1::SYNC_PHASE_TRANSFERRING, 1.5, 7, 1);
  const std::string json = ToJson(event);
  CHECK(absl::StrContains(json, "\"phase\":\"SYNC_PHASE_TRANSFERRING\""));
  CHECK(absl::StrContains(json, "\"bytes_done\":\"7\""));
  CHECK(JsonObject({{"a", "1"}, {"b", "{}"}}) == "{\"a\":1,\"b\":{}}");
  CHECK(ParseOutputFormat("json").value() == OutputFormat::kJson);
  CHECK(ParseOutputFormat("yaml").status().message() ==
        "--output is 'yaml'; accepted: table, json");
}

}  // namespace
}  // namespace paramsync::ctl
