#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "motifbench/energy.hpp"

namespace motifbench {
namespace {
namespace fs = std::filesystem;

struct FakeTree {
  fs::path root;
  FakeTree() {
    root = fs::path(::testing::TempDir()) / ("powercap_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~FakeTree() { fs::remove_all(root); }
  void zone(const std::string& dir, const std::string& name, unsigned long long energy, unsigned long long range) {
    fs::create_directories(root / dir);
    std::ofstream(root / dir / "name") << name << "\n";
    std::ofstream(root / dir / "energy_uj") << energy << "\n";
    std::ofstream(root / dir / "max_energy_range_uj") << range << "\n";
  }
  void set(const std::string& dir, unsigned long long energy) { std::ofstream(root / dir / "energy_uj") << energy << "\n"; }
};

TEST(Powercap, SumsTopLevelZonesOnly) {
  FakeTree t;
  t.zone("intel-rapl:0", "package-0", 1'000'000, 100'000'000);
  t.zone("intel-rapl:1", "package-1", 5'000'000, 100'000'000);
  t.zone("intel-rapl:0:0", "core", 0, 100'000'000);  // sub-zone: must not be counted
  std::string why;
  auto m = make_powercap_meter(t.root.string(), &why);
  ASSERT_NE(m, nullptr) << why;
  m->start();
  t.set("intel-rapl:0", 3'000'000);   // +2 J
  t.set("intel-rapl:1", 5'500'000);   // +0.5 J
  t.set("intel-rapl:0:0", 90'000'000);
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Measured);
  EXPECT_EQ(r.source, "powercap");
  ASSERT_TRUE(r.energy_j.has_value());
  EXPECT_NEAR(*r.energy_j, 2.5, 1e-9);
  EXPECT_EQ(r.domains_j.size(), 2u);
}

TEST(Powercap, HandlesCounterWrapAround) {
  FakeTree t;
  t.zone("intel-rapl:0", "package-0", 99'000'000, 100'000'000);
  auto m = make_powercap_meter(t.root.string(), nullptr);
  ASSERT_NE(m, nullptr);
  m->start();
  t.set("intel-rapl:0", 1'000'000);  // wrapped: 1 J to the top + 1 J after
  auto r = m->stop();
  EXPECT_NEAR(*r.energy_j, 2.0, 1e-9);
}

TEST(Powercap, PollCatchesMoreThanOneWrap) {
  FakeTree t;
  t.zone("intel-rapl:0", "package-0", 0, 10'000'000);
  auto m = make_powercap_meter(t.root.string(), nullptr);
  m->start();
  t.set("intel-rapl:0", 8'000'000);
  m->poll();                          // +8 J
  t.set("intel-rapl:0", 4'000'000);   // wrapped: +2 +4 J
  m->poll();
  t.set("intel-rapl:0", 9'000'000);   // +5 J
  EXPECT_NEAR(*m->stop().energy_j, 19.0, 1e-9);
}

TEST(Powercap, MissingOrUnreadableTreeIsUnavailableNotZero) {
  std::string why;
  EXPECT_EQ(make_powercap_meter("/nonexistent/powercap", &why), nullptr);
  EXPECT_NE(why.find("no powercap"), std::string::npos);
  FakeTree t;
  fs::create_directories(t.root / "intel-rapl:0");  // no energy_uj
  EXPECT_EQ(make_powercap_meter(t.root.string(), &why), nullptr);
  auto m = make_energy_meter("powercap", 10, 0, "/nonexistent/powercap", "/nonexistent/cray");
  m->start();
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Unavailable);
  EXPECT_FALSE(r.energy_j.has_value()) << "a missing source must never read as 0 J";
  EXPECT_FALSE(r.detail.empty());
}

TEST(Energy, AutoFallsBackToALabelledEstimate) {
  auto m = make_energy_meter("auto", 10, 0, "/nonexistent/powercap", "/nonexistent/cray");
  m->start();
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + i * 1e-9;
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Estimated);
  ASSERT_TRUE(r.energy_j.has_value());
  EXPECT_GT(*r.energy_j, 0.0);
  EXPECT_NE(r.detail.find("estimate"), std::string::npos);
}

TEST(Energy, AutoPrefersAMeasuredSource) {
  FakeTree t;
  t.zone("intel-rapl:0", "package-0", 0, 1'000'000'000);
  auto m = make_energy_meter("auto", 10, 0, t.root.string(), "/nonexistent/cray");
  m->start();
  t.set("intel-rapl:0", 7'000'000);
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Measured);
  EXPECT_NEAR(*r.energy_j, 7.0, 1e-9);
}

TEST(Energy, CrayCounters) {
  FakeTree t;
  std::ofstream(t.root / "energy") << "1000 J\n";
  auto m = make_energy_meter("cray", 10, 0, "/nonexistent", t.root.string());
  m->start();
  std::ofstream(t.root / "energy") << "1250 J\n";
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Measured);
  EXPECT_EQ(r.source, "cray_pm_counters");
  EXPECT_NEAR(*r.energy_j, 250.0, 1e-9);
}

TEST(Energy, NoneIsUnavailable) {
  auto m = make_energy_meter("none", 10, 0, "", "");
  m->start();
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Unavailable);
  EXPECT_FALSE(r.energy_j.has_value());
}

}  // namespace
}  // namespace motifbench
