#include "common/metrics/metrics.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <thread>
#include <vector>

#include "common/metrics/text_format.h"
#include "tests/metrics/exposition_parser.h"

namespace paramsync::metrics {
namespace {

using testing::ParseExposition;

TEST_CASE("A scrape shows counters, gauges and histograms by label values", "[metrics]") {
  Registry registry;
  Family<Counter>& syncs = registry.AddCounter("t_syncs_total", "Syncs run", {"group", "outcome"});
  Family<Gauge>& live = registry.AddGauge("t_live", "Live things", {});
  Family<Histogram>& seconds =
      registry.AddHistogram("t_seconds", "Durations", {"group"}, {0.1, 1, 10});
  syncs.Get({"a", "ok"}).Increment();
  syncs.Get({"a", "ok"}).Increment(2);
  syncs.Get({"b", "aborted"}).Increment();
  live.Get({}).Set(4);
  live.Get({}).Add(-1);
  seconds.Get({"a"}).Observe(0.05);
  seconds.Get({"a"}).Observe(1);  // On a bound: counted in that bucket (le).
  seconds.Get({"a"}).Observe(50);

  const std::string text = ToTextFormat(registry.Collect());
  absl::StatusOr<std::map<std::string, double>> samples = ParseExposition(text);
  INFO(text);
  REQUIRE(samples.ok());
  CHECK(samples->at("t_syncs_total{group=\"a\",outcome=\"ok\"}") == 3);
  CHECK(samples->at("t_syncs_total{group=\"b\",outcome=\"aborted\"}") == 1);
  CHECK(samples->at("t_live") == 3);
  CHECK(samples->at("t_seconds_bucket{group=\"a\",le=\"0.1\"}") == 1);
  CHECK(samples->at("t_seconds_bucket{group=\"a\",le=\"1\"}") == 2);
  CHECK(samples->at("t_seconds_bucket{group=\"a\",le=\"10\"}") == 2);
  CHECK(samples->at("t_seconds_bucket{group=\"a\",le=\"+Inf\"}") == 3);
  CHECK(samples->at("t_seconds_sum{group=\"a\"}") == Approx(51.05));
  CHECK(samples->at("t_seconds_count{group=\"a\"}") == 3);
  CHECK(text.find("# HELP t_syncs_total Syncs run\n# TYPE t_syncs_total counter\n") == 0);
}

TEST_CASE("Counters never go down", "[metrics]") {
  Counter counter;
  counter.Increment(5);
  counter.Increment(-3);
  counter.Increment(NAN);
  CHECK(counter.value() == 5);
}

TEST_CASE("Label values and help text are escaped so the text still parses", "[metrics]") {
  Registry registry;
  registry.AddCounter("t_escaped_total", "help with \\ and\nnew line", {"group"})
      .Get({"quote\" back\\slash\nline"})
      .Increment();
  const std::string text = ToTextFormat(registry.Collect());
  INFO(text);
  CHECK(text.find("# HELP t_escaped_total help with \\\\ and\\nnew line\n") != std::string::npos);
  CHECK(text.find("t_escaped_total{group=\"quote\\\" back\\\\slash\\nline\"} 1\n") !=
        std::string::npos);
  CHECK(ParseExposition(text).ok());
}

TEST_CASE("Computed gauges are read at every collection", "[metrics]") {
  Registry registry;
  int live = 2;
  registry.AddComputedGauge("t_endpoints", "Endpoints by version", {"model", "version"}, [&] {
    std::vector<GaugeValue> values;
    for (int v = 1; v <= live; ++v) values.push_back({{"m", std::to_string(v)}, 10.0 * v});
    return values;
  });
  auto scrape = [&] { return *ParseExposition(ToTextFormat(registry.Collect())); };
  CHECK(scrape().at("t_endpoints{model=\"m\",version=\"2\"}") == 20);
  live = 1;
  CHECK(scrape().count("t_endpoints{model=\"m\",version=\"2\"}") == 0);
}

TEST_CASE("Values are written exactly: large integers, fractions, infinities", "[metrics]") {
  CHECK(FormatValue(106954752) == "106954752");
  CHECK(FormatValue(1ll << 53) == "9007199254740992");
  CHECK(FormatValue(0.1) == "0.1");
  CHECK(FormatValue(-2.5) == "-2.5");
  CHECK(FormatValue(1e300) == "1e+300");
  CHECK(FormatValue(INFINITY) == "+Inf");
  CHECK(FormatValue(-INFINITY) == "-Inf");
  CHECK(FormatValue(NAN) == "NaN");
}

TEST_CASE("Concurrent recording loses no update", "[metrics]") {
  Registry registry;
  Family<Counter>& counter = registry.AddCounter("t_total", "", {"k"});
  Family<Histogram>& histogram = registry.AddHistogram("t_h", "", {}, DurationBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        counter.Get({t % 2 == 0 ? "even" : "odd"}).Increment();
        histogram.Get({}).Observe(0.002);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const auto samples = *ParseExposition(ToTextFormat(registry.Collect()));
  CHECK(samples.at("t_total{k=\"even\"}") == 20000);
  CHECK(samples.at("t_total{k=\"odd\"}") == 20000);
  CHECK(samples.at("t_h_count") == 40000);
  CHECK(samples.at("t_h_bucket{le=\"0.001\"}") == 0);
  CHECK(samples.at("t_h_bucket{le=\"0.0025\"}") == 40000);
}

TEST_CASE("The parser used by these tests rejects what a scraper would", "[metrics]") {
  CHECK(ParseExposition("# TYPE a counter\na 1\n").ok());
  CHECK_FALSE(ParseExposition("a 1\n").ok());                           // No TYPE.
  CHECK_FALSE(ParseExposition("# TYPE a counter\na{b=\"x} 1\n").ok());  // Open quote.
  CHECK_FALSE(ParseExposition("# TYPE a counter\na one\n").ok());       // Not a number.
  CHECK_FALSE(ParseExposition("# TYPE a counter\na 1").ok());           // No final LF.
  CHECK_FALSE(ParseExposition("# TYPE 9a counter\n9a 1\n").ok());       // Bad name.
  CHECK_FALSE(ParseExposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                              "h_bucket{le=\"+Inf\"} 1\nh_count 1\n")
                  .ok());  // Not cumulative.
  CHECK_FALSE(ParseExposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n").ok());
}

}  // namespace
}  // namespace paramsync::metrics
