// Latency statistics: the one place percentiles are computed.
//
// Method (documented in the README and the result): exact order statistics on
// the raw samples with the "nearest rank" definition, i.e. the p-th percentile
// is the smallest sample x such that at least p% of samples are <= x
// (index ceil(p/100 * n) - 1 of the sorted samples). No interpolation, so every
// reported percentile is a value that was really observed. The rank is computed
// in exact integer arithmetic with p rounded to 1/1000 of a percent, so
// p99.9 of 1000 samples is the 999th, not the 1000th (floating point gives
// ceil(999.0000000000001) = 1000).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace motifbench {

struct LatencySummary {
  std::uint64_t count = 0;
  double min_ns = 0, mean_ns = 0, p50_ns = 0, p90_ns = 0, p95_ns = 0, p99_ns = 0, p999_ns = 0,
         max_ns = 0, stddev_ns = 0;
};

/// Exact summary of raw samples (nanoseconds). An empty input gives count 0.
LatencySummary summarize_latency(std::vector<double> samples_ns);

/// 1-based nearest rank of the p-th percentile among n samples: the smallest k
/// with k * 100 >= p * n, computed exactly (p rounded to 0.001). Returns 0 when
/// n is 0, and at least 1 otherwise. p outside [0, 100] is clamped.
std::uint64_t nearest_rank(std::uint64_t n, double p);

/// Nearest-rank percentile of already sorted samples; p in [0, 100].
double percentile_sorted(const std::vector<double>& sorted, double p);

/// Mergeable log-bucket histogram, HdrHistogram-like: bucket i covers
/// [base * r^i, base * r^(i+1)) with r = 10^(1/buckets_per_decade). Bucket 0 also
/// takes everything below base. Two histograms with the same layout merge by
/// adding counts, which is how per-rank samples combine across MPI ranks.
class LogHistogram {
 public:
  explicit LogHistogram(double base_ns = 10.0, int buckets_per_decade = 20, int decades = 10);
  void add(double value_ns);
  /// Throws std::invalid_argument when the layouts differ.
  void merge(const LogHistogram& other);
  /// Upper edge of the bucket holding the p-th percentile (an over-estimate by at
  /// most one bucket width, ~12% at 20 buckets per decade).
  double percentile_upper_ns(double p) const;
  double base_ns() const { return m_base; }
  int buckets_per_decade() const { return m_per_decade; }
  const std::vector<std::uint64_t>& counts() const { return m_counts; }
  std::uint64_t total() const { return m_total; }
  double bucket_upper_ns(std::size_t i) const;

 private:
  double m_base;
  int m_per_decade;
  std::vector<std::uint64_t> m_counts;
  std::uint64_t m_total = 0;
};

/// Mean, sample standard deviation, min, max of per-repetition figures.
struct RepStats {
  std::uint64_t count = 0;
  double mean = 0, stddev = 0, min = 0, max = 0;
  double cv() const { return mean != 0 ? stddev / mean : 0.0; }
};
RepStats summarize_reps(const std::vector<double>& values);

}  // namespace motifbench
