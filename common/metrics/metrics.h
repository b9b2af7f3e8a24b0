// File: common/metrics/metrics.h
// -----------------------------------------------------------------------------
// Prometheus-style metrics of a daemon: counters, gauges and histograms in
// families with fixed label names, kept in a Registry that a scrape collects
// (text_format.h renders it, http_server.h serves it).
//
// Why not prometheus-cpp: Debian ships it (and civetweb, its HTTP server) only
// as shared libraries, and the daemons shipped to GPU machines link every
// non-system library statically (scripts/build_ship.sh); the three metric
// types and the text format are small enough to own.
//
// Label values are the caller's to bound: name groups, models, stages or
// status codes, never tensors, ranks or sync ids. Every method is thread-safe;
// recording takes one short lock (a per-series mutex or atomic), so it belongs
// on per-sync and per-stage paths, not per tensor.
//
// Example:
//   Registry registry;
//   Family<Counter>& syncs = registry.AddCounter(
//       "paramsync_coordinator_syncs_total", "Syncs run", {"group", "outcome"});
//   syncs.Get({"actor_to_vllm", "ok"}).Increment();
//   std::string text = ToTextFormat(registry.Collect());
#ifndef PARAMSYNC_COMMON_METRICS_METRICS_H_
#define PARAMSYNC_COMMON_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace paramsync::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// One series of a family at collection time.
struct Sample {
  std::vector<std::string> label_values;  // In the family's label-name order.
  double value = 0;                       // Counters and gauges.
  // Histograms: cumulative counts per upper bound of the family, then +Inf.
  std::vector<uint64_t> bucket_counts;
  double sum = 0;
  uint64_t count = 0;
};

// A family as a scrape sees it.
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // Histograms: bucket upper bounds, ascending.
  std::vector<Sample> samples;
};

// A value that only goes up (events, bytes).
class Counter {
 public:
  // `amount` must be >= 0; negative amounts are ignored.
  void Increment(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets by upper bound (seconds, bytes).
class Histogram {
 public:
  // `bounds` ascending; an implicit +Inf bucket follows them.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Cumulative bucket counts (bounds, then +Inf), sum and count, consistent
  // with each other.
  void Snapshot(Sample& sample) const;

 private:
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // Per bucket, not cumulative.
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
};

// Series of one metric by label values.
template <typename Metric>
class Family {
 public:
  // The series of `label_values`, created at its first use. Precondition: as
  // many values as the family has label names (a missing one reads as empty,
  // extra ones are dropped). The reference stays valid as long as the family.
  Metric& Get(std::vector<std::string> label_values);

  // Every series, for collection.
  void ForEach(
      const std::function<void(const std::vector<std::string>&, const Metric&)>& visit) const;

 private:
  friend class Registry;
  Family(size_t label_count, std::function<std::unique_ptr<Metric>()> make)
      : label_count_(label_count), make_(std::move(make)) {}

  const size_t label_count_;
  const std::function<std::unique_ptr<Metric>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_ ABSL_GUARDED_BY(mu_);
};

// A gauge series computed when scraped (e.g. live agents, read from a registry).
struct GaugeValue {
  std::vector<std::string> label_values;
  double value = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each name must be unique in the registry and a valid Prometheus metric
  // name; label names valid label names. Families live as long as the registry.
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names);
  Family<Gauge>& AddGauge(std::string name, std::string help, std::vector<std::string> label_names);
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);
  // A gauge family whose series `compute` returns at every collection (from
  // the scraping thread: it must be thread-safe and quick).
  void AddComputedGauge(std::string name, std::string help, std::vector<std::string> label_names,
                        std::function<std::vector<GaugeValue>()> compute);

  // Every family, in the order added, each series sorted by label values.
  std::vector<FamilySnapshot> Collect() const;

 private:
  struct Entry {
    FamilySnapshot header;  // Name, help, type, label names, bounds; no samples.
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::function<std::vector<GaugeValue>()> compute;
  };
  Entry& Add(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names, std::vector<double> bounds = {});

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// Seconds from 1 ms to 5 min: sync, stage and RPC-round durations.
std::vector<double> DurationBuckets();

}  // namespace paramsync::metrics

#endif  // PARAMSYNC_COMMON_METRICS_METRICS_H_
