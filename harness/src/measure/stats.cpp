#include "motifbench/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace motifbench {

std::uint64_t nearest_rank(std::uint64_t n, double p) {
  if (n == 0) return 0;
  if (!(p > 0)) return 1;  // also NaN
  if (p >= 100) return n;
  // p in thousandths of a percent: 99.9 -> 99900 of 100000.
  const auto milli = static_cast<unsigned __int128>(std::llround(p * 1000.0));
  const unsigned __int128 scale = 100000;
  auto rank = static_cast<std::uint64_t>((milli * n + scale - 1) / scale);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return rank;
}

double percentile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  return sorted[nearest_rank(sorted.size(), p) - 1];
}

LatencySummary summarize_latency(std::vector<double> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.count = samples.size();
  s.min_ns = samples.front();
  s.max_ns = samples.back();
  // Kahan-free long double sum is exact enough for <1e9 samples of ns values.
  long double sum = 0;
  for (double v : samples) sum += v;
  s.mean_ns = static_cast<double>(sum / samples.size());
  long double sq = 0;
  for (double v : samples) sq += (v - s.mean_ns) * (v - s.mean_ns);
  s.stddev_ns = samples.size() > 1 ? std::sqrt(static_cast<double>(sq / (samples.size() - 1))) : 0.0;
  s.p50_ns = percentile_sorted(samples, 50);
  s.p90_ns = percentile_sorted(samples, 90);
  s.p95_ns = percentile_sorted(samples, 95);
  s.p99_ns = percentile_sorted(samples, 99);
  s.p999_ns = percentile_sorted(samples, 99.9);
  return s;
}

LogHistogram::LogHistogram(double base_ns, int buckets_per_decade, int decades)
    : m_base(base_ns), m_per_decade(buckets_per_decade),
      m_counts(static_cast<std::size_t>(buckets_per_decade * decades), 0) {}

void LogHistogram::add(double v) {
  std::size_t i = 0;
  if (v > m_base) {
    double idx = std::floor(std::log10(v / m_base) * m_per_decade);
    i = static_cast<std::size_t>(std::max(0.0, idx));
    if (i >= m_counts.size()) i = m_counts.size() - 1;
  }
  ++m_counts[i];
  ++m_total;
}

void LogHistogram::merge(const LogHistogram& o) {
  if (o.m_base != m_base || o.m_per_decade != m_per_decade || o.m_counts.size() != m_counts.size())
    throw std::invalid_argument("LogHistogram::merge: histogram layouts differ");
  for (std::size_t i = 0; i < m_counts.size(); ++i) m_counts[i] += o.m_counts[i];
  m_total += o.m_total;
}

double LogHistogram::bucket_upper_ns(std::size_t i) const {
  return m_base * std::pow(10.0, static_cast<double>(i + 1) / m_per_decade);
}

double LogHistogram::percentile_upper_ns(double p) const {
  if (m_total == 0) return 0.0;
  const std::uint64_t rank = nearest_rank(m_total, p);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < m_counts.size(); ++i) {
    seen += m_counts[i];
    if (seen >= rank) return bucket_upper_ns(i);
  }
  return bucket_upper_ns(m_counts.size() - 1);
}

RepStats summarize_reps(const std::vector<double>& v) {
  RepStats s;
  if (v.empty()) return s;
  s.count = v.size();
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  double sq = 0;
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(sq / (v.size() - 1)) : 0.0;
  return s;
}

}  // namespace motifbench
