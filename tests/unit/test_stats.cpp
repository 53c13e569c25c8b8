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
