#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "motifbench/stats.hpp"

namespace motifbench {
namespace {

TEST(Stats, NearestRankPercentilesOnOneToHundred) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  auto s = summarize_latency(v);
  EXPECT_EQ(s.count, 100u);
  EXPECT_DOUBLE_EQ(s.min_ns, 1);
  EXPECT_DOUBLE_EQ(s.p50_ns, 50);
  EXPECT_DOUBLE_EQ(s.p90_ns, 90);
  EXPECT_DOUBLE_EQ(s.p95_ns, 95);
  EXPECT_DOUBLE_EQ(s.p99_ns, 99);
  EXPECT_DOUBLE_EQ(s.p999_ns, 100);
  EXPECT_DOUBLE_EQ(s.max_ns, 100);
  EXPECT_DOUBLE_EQ(s.mean_ns, 50.5);
}

TEST(Stats, PercentileIsAlwaysAnObservedSample) {
  std::vector<double> v{10, 20, 30};
  auto s = summarize_latency(v);
  EXPECT_DOUBLE_EQ(s.p50_ns, 20);  // ceil(1.5) = 2nd
  EXPECT_DOUBLE_EQ(s.p90_ns, 30);
  EXPECT_DOUBLE_EQ(percentile_sorted({10, 20, 30}, 33.3), 10);
  EXPECT_DOUBLE_EQ(percentile_sorted({10, 20, 30}, 34), 20);
}

// The definition, checked directly for every n up to 200000: the rank k is the
// smallest integer with k * 100 >= p * n (p in thousandths of a percent here).
TEST(Stats, NearestRankIsExactForEveryCount) {
  const std::uint64_t milli[] = {50000, 90000, 95000, 99000, 99900};
  const double pct[] = {50, 90, 95, 99, 99.9};
  for (std::uint64_t n = 1; n <= 200000; ++n) {
    for (int j = 0; j < 5; ++j) {
      const std::uint64_t k = nearest_rank(n, pct[j]);
      ASSERT_GE(k * 100000, milli[j] * n) << "n=" << n << " p=" << pct[j];
      ASSERT_LT((k - 1) * 100000, milli[j] * n) << "n=" << n << " p=" << pct[j];
    }
  }
  EXPECT_EQ(nearest_rank(1, 99.9), 1u);
  EXPECT_EQ(nearest_rank(2, 99.9), 2u);
  EXPECT_EQ(nearest_rank(999, 99.9), 999u);
  EXPECT_EQ(nearest_rank(1000, 99.9), 999u);  // floating point gave 1000
  EXPECT_EQ(nearest_rank(1001, 99.9), 1000u);
  EXPECT_EQ(nearest_rank(10000, 99.9), 9990u);
  EXPECT_EQ(nearest_rank(0, 50), 0u);
  EXPECT_EQ(nearest_rank(10, 0), 1u);
  EXPECT_EQ(nearest_rank(10, 100), 10u);
}

TEST(Stats, P999OfThousandSamplesIsNotTheMax) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  auto s = summarize_latency(v);
  EXPECT_DOUBLE_EQ(s.p999_ns, 999);
  EXPECT_DOUBLE_EQ(s.max_ns, 1000);
  // 999 fast samples and one slow one: p99.9 is fast in the histogram too.
  LogHistogram h;
  for (int i = 0; i < 999; ++i) h.add(100.0);
  h.add(1e6);
  EXPECT_LT(h.percentile_upper_ns(99.9), 1000.0);
}

TEST(Stats, EmptyAndSingle) {
  EXPECT_EQ(summarize_latency({}).count, 0u);
  auto s = summarize_latency({7});
  EXPECT_DOUBLE_EQ(s.p50_ns, 7);
  EXPECT_DOUBLE_EQ(s.p999_ns, 7);
  EXPECT_DOUBLE_EQ(s.stddev_ns, 0);
}

TEST(Histogram, MergeEqualsHistogramOfUnion) {
  std::mt19937 rng(1);
  std::lognormal_distribution<double> d(10, 1);
  LogHistogram a, b, all;
  for (int i = 0; i < 5000; ++i) {
    double x = d(rng);
    (i % 2 ? a : b).add(x);
    all.add(x);
  }
  a.merge(b);
  EXPECT_EQ(a.counts(), all.counts());
  EXPECT_EQ(a.total(), 5000u);
}

TEST(Histogram, PercentileWithinOneBucketOfExact) {
  std::mt19937 rng(2);
  std::lognormal_distribution<double> d(12, 0.5);
  LogHistogram h;
  std::vector<double> v;
  for (int i = 0; i < 20000; ++i) {
    v.push_back(d(rng));
    h.add(v.back());
  }
  auto exact = summarize_latency(v);
  const double width = std::pow(10.0, 1.0 / h.buckets_per_decade());
  for (auto [p, e] : {std::pair{50.0, exact.p50_ns}, {99.0, exact.p99_ns}}) {
    double up = h.percentile_upper_ns(p);
    EXPECT_GE(up, e) << p;
    EXPECT_LE(up, e * width * 1.0001) << p;
  }
}

TEST(Histogram, MismatchedLayoutsRefuseToMerge) {
  LogHistogram a(10, 20), b(10, 10);
  EXPECT_THROW(a.merge(b), std::invalid_argument);
}

TEST(Stats, RepStats) {
  auto s = summarize_reps({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.stddev, 1.2909944, 1e-6);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
}

}  // namespace
}  // namespace motifbench
