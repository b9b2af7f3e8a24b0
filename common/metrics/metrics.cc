#include "common/metrics/metrics.h"

#include <algorithm>
#include <cmath>

namespace paramsync::metrics {
namespace {

void AtomicAdd(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

}  // namespace

void Counter::Increment(double amount) {
  if (!(amount >= 0)) return;  // Also NaN: a counter never goes down.
  AtomicAdd(value_, amount);
}

void Gauge::Add(double amount) { AtomicAdd(value_, amount); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  // The first bucket whose upper bound holds the value (le: less or equal).
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  absl::MutexLock lock(&mu_);
  ++counts_[bucket];
  sum_ += value;
}

void Histogram::Snapshot(Sample& sample) const {
  absl::MutexLock lock(&mu_);
  sample.bucket_counts.resize(counts_.size());
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    sample.bucket_counts[i] = cumulative;
  }
  sample.count = cumulative;
  sample.sum = sum_;
}

template <typename Metric>
Metric& Family<Metric>::Get(std::vector<std::string> label_values) {
  label_values.resize(label_count_);
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& metric = series_[std::move(label_values)];
  if (metric == nullptr) metric = make_();
  return *metric;
}

template <typename Metric>
void Family<Metric>::ForEach(
    const std::function<void(const std::vector<std::string>&, const Metric&)>& visit) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, metric] : series_) visit(labels, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::Add(std::string name, std::string help, MetricType type,
                               std::vector<std::string> label_names, std::vector<double> bounds) {
  auto entry = std::make_unique<Entry>();
  entry->header.name = std::move(name);
  entry->header.help = std::move(help);
  entry->header.type = type;
  entry->header.label_names = std::move(label_names);
  entry->header.bounds = std::move(bounds);
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  const size_t labels = label_names.size();
  Entry& entry =
      Add(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names));
  entry.counters.reset(new Family<Counter>(labels, [] { return std::make_unique<Counter>(); }));
  return *entry.counters;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  const size_t labels = label_names.size();
  Entry& entry = Add(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names));
  entry.gauges.reset(new Family<Gauge>(labels, [] { return std::make_unique<Gauge>(); }));
  return *entry.gauges;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  const size_t labels = label_names.size();
  Entry& entry =
      Add(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names), bounds);
  entry.histograms.reset(
      new Family<Histogram>(labels, [bounds] { return std::make_unique<Histogram>(bounds); }));
  return *entry.histograms;
}

void Registry::AddComputedGauge(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::function<std::vector<GaugeValue>()> compute) {
  Entry& entry = Add(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names));
  entry.compute = std::move(compute);
}

std::vector<FamilySnapshot> Registry::Collect() const {
  absl::MutexLock lock(&mu_);
  std::vector<FamilySnapshot> families;
  families.reserve(entries_.size());
  for (const std::unique_ptr<Entry>& entry : entries_) {
    FamilySnapshot family = entry->header;
    auto add = [&family](const std::vector<std::string>& labels) -> Sample& {
      family.samples.emplace_back();
      family.samples.back().label_values = labels;
      return family.samples.back();
    };
    if (entry->counters != nullptr) {
      entry->counters->ForEach([&](const std::vector<std::string>& labels, const Counter& metric) {
        add(labels).value = metric.value();
      });
    } else if (entry->gauges != nullptr) {
      entry->gauges->ForEach([&](const std::vector<std::string>& labels, const Gauge& metric) {
        add(labels).value = metric.value();
      });
    } else if (entry->histograms != nullptr) {
      entry->histograms->ForEach([&](const std::vector<std::string>& labels,
                                     const Histogram& metric) { metric.Snapshot(add(labels)); });
    } else {
      std::vector<GaugeValue> values = entry->compute();
      std::sort(values.begin(), values.end(), [](const GaugeValue& a, const GaugeValue& b) {
        return a.label_values < b.label_values;
      });
      for (GaugeValue& value : values) {
        value.label_values.resize(family.label_names.size());
        add(value.label_values).value = value.value;
      }
    }
    families.push_back(std::move(family));
  }
  return families;
}

std::vector<double> DurationBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

}  // namespace paramsync::metrics
