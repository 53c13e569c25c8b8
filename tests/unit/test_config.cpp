#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "motifbench/config.hpp"

namespace motifbench {
namespace {

ConfigSchema demo_schema() {
  ConfigSchema s;
  s.add_int("grid.nx", 64, 4, 4096, "points");
  s.add_real("sim.dt", 0.1, 1e-6, 1.0, "step");
  s.add_bool("drift.on", false, "drift");
  s.add_choice("mode", "fast", {"fast", "exact"}, "mode");
  s.add_string("path", "", "path");
  return s;
}

std::string write_temp(const std::string& text) {
  std::string path = ::testing::TempDir() + "/cfg_" + std::to_string(std::rand()) + ".json";
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsThenLayersOverrideInOrder) {
  Config c(demo_schema());
  EXPECT_EQ(c.get_int("grid.nx"), 64);
  c.set("grid.nx", "128", ConfigSource::Size);
  EXPECT_EQ(c.get_int("grid.nx"), 128);
  auto file = write_temp(R"({"grid": {"nx": 256}, "sim.dt": 0.5})");
  c.load_file(file);
  EXPECT_EQ(c.get_int("grid.nx"), 256);
  EXPECT_DOUBLE_EQ(c.get_real("sim.dt"), 0.5);
  c.set_assignment("grid.nx=512", ConfigSource::Cli);
  EXPECT_EQ(c.get_int("grid.nx"), 512);
  EXPECT_EQ(c.sources().at("grid.nx"), ConfigSource::Cli);
  EXPECT_EQ(c.requested_text().at("grid.nx"), "512");
  EXPECT_EQ(c.sources().at("sim.dt"), ConfigSource::File);
  EXPECT_EQ(c.sources().count("mode"), 0u);
  std::remove(file.c_str());
}

TEST(Config, SizeLayerIsNotReportedAsRequested) {
  Config c(demo_schema());
  c.set("grid.nx", "128", ConfigSource::Size);
  EXPECT_EQ(c.requested_text().count("grid.nx"), 0u);
  EXPECT_EQ(c.effective_text().at("grid.nx"), "128");
}

TEST(Config, UnknownKeyNamesValidKeys) {
  Config c(demo_schema());
  try {
    c.set("grid.nz", "3", ConfigSource::Cli);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("unknown config key 'grid.nz'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("grid.nx"), std::string::npos) << msg;
    EXPECT_NE(msg.find("sim.dt"), std::string::npos) << msg;
  }
}

TEST(Config, RejectsOutOfRangeAndMalformedValues) {
  Config c(demo_schema());
  EXPECT_THROW(c.set("grid.nx", "0", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set("grid.nx", "-5", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set("grid.nx", "12abc", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set("grid.nx", "", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set("sim.dt", "nan", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set("sim.dt", "2.0", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set("drift.on", "maybe", ConfigSource::Cli), ConfigError);
  EXPECT_THROW(c.set_assignment("grid.nx", ConfigSource::Cli), ConfigError);
  EXPECT_EQ(c.get_int("grid.nx"), 64) << "a rejected value must not change the config";
}

TEST(Config, ChoiceErrorNamesTheChoices) {
  Config c(demo_schema());
  try {
    c.set("mode", "slow", ConfigSource::Cli);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("one of fast, exact"), std::string::npos) << e.what();
  }
}

TEST(Config, MalformedFileIsAClearError) {
  Config c(demo_schema());
  auto bad = write_temp("{\"grid\": {\"nx\": 12");
  try {
    c.load_file(bad);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  auto arr = write_temp("[1, 2]");
  EXPECT_THROW(c.load_file(arr), ConfigError);
  auto unknown = write_temp(R"({"grid": {"nq": 1}})");
  EXPECT_THROW(c.load_file(unknown), ConfigError);
  EXPECT_THROW(c.load_file("/nonexistent/motifbench.json"), ConfigError);
  for (const auto& p : {bad, arr, unknown}) std::remove(p.c_str());
}

}  // namespace
}  // namespace motifbench
