// Registry, runner and JSON reporter against a toy motif.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <thread>

#include "core/cpu_placement.hpp"
#include "core/mpi_session.hpp"
#include "core/runner.hpp"
#include "core/harness_config.hpp"
#include "motifbench/registry.hpp"
#include "report/json_result.hpp"
#include "tools/validate.hpp"

namespace motifbench {
namespace {

// Sleeps a configured time per step inside a `simulate` phase; records the
// step's latency; fails on a configured step.
class ToyMotif final : public Motif {
 public:
  void setup(RunContext& ctx) override {
    m_sim = ctx.phase("simulate");
    m_sleep_us = ctx.config().get_int("toy.sleep_us");
    m_fail_at = ctx.config().get_int("toy.fail_at");
  }
  void step(RunContext& ctx) override {
    if (m_fail_at >= 0 && ctx.step_index() == m_fail_at) throw std::runtime_error("toy component died");
    auto t0 = now_ns();
    {
      ScopedPhase p(ctx, m_sim);
      std::this_thread::sleep_for(std::chrono::microseconds(m_sleep_us));
      ctx.declare_work(m_sim, Work{100, 800, 50, 0});
    }
    ctx.record_latency_ns("toy_step", static_cast<double>(now_ns() - t0));
    if (!ctx.warming_up()) ++m_measured;
  }
  void finish(RunContext& ctx) override {
    ctx.metrics().scalar("measured_steps_count", m_measured);
    if (ctx.config().get_int("toy.nan") != 0) {
      ctx.metrics().scalar("surrogate_error_fraction", std::nan(""));
      ctx.metrics().append("errors", {{"step_index", 1.0}, {"error_fraction", std::nan("")}});
    }
  }

 private:
  PhaseId m_sim = 0;
  std::int64_t m_sleep_us = 0, m_fail_at = -1, m_measured = 0;
};

MotifInfo toy_info() {
  MotifInfo info;
  info.name = "toy";
  info.summary = "test motif";
  info.couplings = {Coupling::None};
  info.declare_config = [](ConfigSchema& s) {
    s.add_int("toy.sleep_us", 200, 0, 1000000, "sleep per step");
    s.add_int("toy.fail_at", -1, -1, 1000000, "step that throws");
    s.add_int("toy.nan", 0, 0, 1, "report a NaN science figure");
  };
  for (const auto& size : size_names()) info.sizes[size] = {};
  info.create = [] { return std::make_unique<ToyMotif>(); };
  return info;
}

Config toy_config(const MotifInfo& info) {
  ConfigSchema s;
  detail::declare_harness_config(s);
  info.declare_config(s);
  Config c(s);
  c.set("run.repetitions", "2", ConfigSource::Cli);
  c.set("run.min_time_s", "0", ConfigSource::Cli);
  c.set("run.min_iterations", "25", ConfigSource::Cli);
  c.set("run.warmup_iterations", "5", ConfigSource::Cli);
  c.set("run.warmup_s", "0", ConfigSource::Cli);
  return c;
}

TEST(Registry, FindsAndListsMotifs) {
  Registry r;
  r.add(toy_info());
  EXPECT_NE(r.find("toy"), nullptr);
  EXPECT_EQ(r.find("nope"), nullptr);
  EXPECT_EQ(r.name_list(), "toy");
}

TEST(RegistryDeath, DuplicateNameAborts) {
  Registry r;
  r.add(toy_info());
  EXPECT_DEATH(r.add(toy_info()), "already registered");
}

TEST(RegistryDeath, SizeProfileWithUnknownKeyAborts) {
  auto info = toy_info();
  info.sizes["tiny"] = {{"toy.nope", "1"}};
  Registry r;
  EXPECT_DEATH(r.add(info), "unknown config key 'toy.nope'");
}

TEST(RegistryDeath, MissingSizeAborts) {
  auto info = toy_info();
  info.sizes.erase("large");
  Registry r;
  EXPECT_DEATH(r.add(info), "size 'large' missing");
}

TEST(Registry, BuildRegistersEveryMiniApp) {
  Registry r;
  register_all_motifs(r);
  EXPECT_NE(r.find("digital_replica"), nullptr);
}

TEST(Runner, WarmupExcludedAndMinimumIterationsMet) {
  auto info = toy_info();
  auto cfg = toy_config(info);
  detail::RunRequest req{&info, Coupling::None, "tiny", {"test"}, 0, 1, true};
  auto res = detail::run_motif(req, cfg, nullptr);
  ASSERT_TRUE(res.valid) << (res.invalid_reasons.empty() ? "" : res.invalid_reasons[0]);
  ASSERT_EQ(res.reps.size(), 2u);
  for (const auto& rep : res.reps) {
    EXPECT_EQ(rep.warmup_iterations, 5);
    EXPECT_EQ(rep.iterations, 25);
    ASSERT_EQ(rep.phases.size(), 1u);
    EXPECT_EQ(rep.phases[0].count, 25u) << "warm-up steps leaked into the measured phase";
    EXPECT_DOUBLE_EQ(rep.phases[0].work.items, 2500.0);
    EXPECT_EQ(rep.metrics.scalars().at("measured_steps_count"), 25.0);
    EXPECT_GE(rep.phases[0].total_s, 25 * 200e-6);
    EXPECT_LE(rep.phases[0].total_s, rep.measured_s);
  }
  // The harness's own `step` channel and the motif's channel, each with
  // exactly the measured steps (warm-up excluded).
  ASSERT_EQ(res.channels.size(), 2u);
  for (const auto& ch : res.channels) {
    EXPECT_EQ(ch.latency.count, 50u) << ch.name;
    EXPECT_EQ(ch.histogram.total(), 50u) << ch.name;
    EXPECT_GE(ch.latency.p50_ns, 200e3) << ch.name;
  }
  EXPECT_EQ(res.channels[0].name, "step");
  EXPECT_EQ(res.channels[1].name, "toy_step");
  // A step contains its phase: the harness's step time is at least the motif's.
  EXPECT_GE(res.channels[0].latency.p50_ns, res.channels[1].latency.p50_ns);
  // Derived throughput is declared work over measured phase time.
  const auto& p = res.phases[0];
  ASSERT_TRUE(p.items_per_s.has_value());
  EXPECT_NEAR(*p.items_per_s, 5000.0 / (res.reps[0].phases[0].total_s + res.reps[1].phases[0].total_s), 1e-6);
  ASSERT_TRUE(p.bytes_per_s.has_value());
  ASSERT_TRUE(p.stream_fraction.has_value());
  EXPECT_NEAR(*p.stream_fraction, *p.bytes_per_s / res.stream_copy_bytes_per_s, 1e-12);
  // The toy declares no bytes sent: no rate, rather than a rate of zero.
  EXPECT_FALSE(p.bytes_sent_per_s.has_value());
  EXPECT_GT(res.stream_copy_start_bytes_per_s, 0);
  EXPECT_GT(res.stream_copy_end_bytes_per_s, 0) << "the copy is measured again after the repetitions";
  EXPECT_EQ(res.stream_copy_bytes_per_s, std::max(res.stream_copy_start_bytes_per_s, res.stream_copy_end_bytes_per_s));
  EXPECT_GT(res.overhead.fraction, 0);
#ifndef __SANITIZE_THREAD__  // instrumented harness code is several times slower
  EXPECT_LT(res.overhead.fraction, 0.05);
#endif
  EXPECT_NE(res.reps[0].seed, res.reps[1].seed);
}

TEST(Runner, MinimumTimeExtendsTheMeasuredPart) {
  auto info = toy_info();
  auto cfg = toy_config(info);
  cfg.set("run.repetitions", "1", ConfigSource::Cli);
  cfg.set("run.min_time_s", "0.05", ConfigSource::Cli);
  cfg.set("run.min_iterations", "1", ConfigSource::Cli);
  detail::RunRequest req{&info, Coupling::None, "tiny", {"test"}, 0, 1, true};
  auto res = detail::run_motif(req, cfg, nullptr);
  EXPECT_GE(res.reps[0].measured_s, 0.05);
  EXPECT_GT(res.reps[0].iterations, 10);
}

// The toy run with one key set, its context filled in.
detail::RunResult run_toy_with(const std::string& key, const std::string& value) {
  auto info = toy_info();
  auto cfg = toy_config(info);
  cfg.set(key, value, ConfigSource::Cli);
  detail::RunRequest req{&info, Coupling::None, "tiny", {"test"}, 0, 1, true};
  auto res = detail::run_motif(req, cfg, nullptr);
  res.context = detail::gather_system_context(req.argv, 1);
  return res;
}

TEST(Runner, FailingComponentEndsRunInvalidWithReason) {
  auto res = run_toy_with("toy.fail_at", "3");
  EXPECT_FALSE(res.valid);
  ASSERT_FALSE(res.invalid_reasons.empty());
  EXPECT_NE(res.invalid_reasons[0].find("toy component died"), std::string::npos);
  EXPECT_EQ(res.reps.size(), 1u) << "the run must stop at the first failure";
  auto j = detail::to_json(res);
  EXPECT_FALSE(j["valid"].get<bool>());
}

TEST(JsonReport, CarriesContextConfigAndUnits) {
  auto info = toy_info();
  auto cfg = toy_config(info);
  detail::RunRequest req{&info, Coupling::None, "tiny", {"motifbench", "--motif=toy"}, 0, 1, true};
  auto res = detail::run_motif(req, cfg, nullptr);
  res.context = detail::gather_system_context(req.argv, 1);
  auto j = detail::to_json(res);
  EXPECT_EQ(j["run"]["motif"], "toy");
  EXPECT_EQ(j["run"]["config_effective"]["run.min_iterations"], "25");
  EXPECT_EQ(j["run"]["config_requested"]["run.min_iterations"], "25");
  EXPECT_EQ(j["context"]["argv"][1], "--motif=toy");
  EXPECT_GE(j["context"]["cores_count"].get<int>(), 1);
  EXPECT_FALSE(j["context"]["kokkos"]["version"].get<std::string>().empty());
  EXPECT_TRUE(j["summary"]["latency"]["step"].contains("p999_ns"));
  EXPECT_EQ(j["summary"]["latency"]["step"]["count"], 50);
  const auto& rates = j["summary"]["phases"]["simulate"]["throughput"];
  EXPECT_GT(rates["items_per_s"].get<double>(), 0);
  EXPECT_GT(rates["flops_per_s"].get<double>(), 0);
  EXPECT_TRUE(rates["sent_bytes_per_s"].is_null()) << "undeclared work must not read as a rate of zero";
  EXPECT_TRUE(detail::check_schema(j, detail::result_schema()).empty());
  EXPECT_EQ(j["repetitions"].size(), 2u);
}

TEST(Runner, NonFiniteFiguresMakeTheRunInvalidAndTheResultStillValidates) {
  auto res = run_toy_with("toy.nan", "1");
  EXPECT_FALSE(res.valid) << "a NaN science figure must not give a VALID run";
  bool named = false;
  for (const auto& why : res.invalid_reasons)
    named = named || (why.find("surrogate_error_fraction") != std::string::npos && why.find("NaN") != std::string::npos);
  EXPECT_TRUE(named);
  auto j = detail::to_json(res);
  auto problems = detail::check_schema(j, detail::result_schema());
  auto semantic = detail::check_semantics(j);
  problems.insert(problems.end(), semantic.begin(), semantic.end());
  for (const auto& p : problems) ADD_FAILURE() << p.path << ": " << p.message;
  EXPECT_FALSE(j["repetitions"][0]["motif_metrics"]["scalars"].contains("surrogate_error_fraction"));
}

TEST(JsonReport, AtomicWriteLeavesNoPartialFileOnFailure) {
  nlohmann::json j = {{"a", 1}};
  EXPECT_FALSE(detail::write_json_file("/nonexistent-dir/x.json", j).empty());
  EXPECT_FALSE(detail::check_writable("/nonexistent-dir/x.json").empty());
  std::string ok = ::testing::TempDir() + "/motifbench_ok.json";
  EXPECT_TRUE(detail::write_json_file(ok, j).empty());
  std::remove(ok.c_str());
}

TEST(Metrics, UnitSuffixRequired) {
  EXPECT_TRUE(has_unit_suffix("latency_ns"));
  EXPECT_TRUE(has_unit_suffix("error_fraction"));
  EXPECT_FALSE(has_unit_suffix("latency"));
  MotifMetrics m;
  EXPECT_DEATH(m.scalar("latency", 1.0), "no unit suffix");
}

TEST(Seeds, RepetitionSeedsDifferAndAreStable) {
  EXPECT_EQ(detail::repetition_seed(1, 0), detail::repetition_seed(1, 0));
  EXPECT_NE(detail::repetition_seed(1, 0), detail::repetition_seed(1, 1));
  EXPECT_NE(detail::repetition_seed(1, 0), detail::repetition_seed(2, 0));
}

TEST(ConfigHash, DependsOnEveryValue) {
  std::map<std::string, std::string> a{{"x", "1"}, {"y", "2"}}, b{{"x", "1"}, {"y", "3"}};
  EXPECT_NE(detail::config_hash(a), detail::config_hash(b));
  EXPECT_EQ(detail::config_hash(a), detail::config_hash(a));
}

}  // namespace
}  // namespace motifbench

namespace motifbench::detail {
namespace {

// A fake environment for decide_mpi: the variables set in one test.
std::map<std::string, std::string> g_fake_env;
const char* fake_getenv(const char* name) {
  auto it = g_fake_env.find(name);
  return it == g_fake_env.end() ? nullptr : it->second.c_str();
}

TEST(MpiDecision, NoLauncherMeansNoMpi) {
  g_fake_env = {{"HOME", "/root"}, {"SLURM_JOB_ID", "7"}};
  const auto d = decide_mpi(fake_getenv);
  EXPECT_FALSE(d.initialise);
  EXPECT_TRUE(d.error.empty());
  EXPECT_NE(d.reason.find("no launcher"), std::string::npos);
}

TEST(MpiDecision, EachLauncherIsRecognised) {
  for (const char* var : {"PMI_RANK", "PMI_FD", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PALS_RANKID",
                          "ALPS_APP_PE", "MV2_COMM_WORLD_RANK"}) {
    g_fake_env = {{var, "0"}};
    const auto d = decide_mpi(fake_getenv);
    EXPECT_TRUE(d.initialise) << var;
    EXPECT_NE(d.reason.find(var), std::string::npos) << d.reason;
  }
  // srun: several tasks in a step; one task is a single process.
  g_fake_env = {{"SLURM_STEP_ID", "0"}, {"SLURM_STEP_NUM_TASKS", "4"}};
  EXPECT_TRUE(decide_mpi(fake_getenv).initialise);
  g_fake_env = {{"SLURM_STEP_ID", "0"}, {"SLURM_STEP_NUM_TASKS", "1"}};
  EXPECT_FALSE(decide_mpi(fake_getenv).initialise);
}

TEST(MpiDecision, OverrideAndBadValue) {
  g_fake_env = {{"MOTIFBENCH_MPI", "on"}};
  EXPECT_TRUE(decide_mpi(fake_getenv).initialise);
  g_fake_env = {{"MOTIFBENCH_MPI", "off"}, {"PMI_RANK", "0"}};
  EXPECT_FALSE(decide_mpi(fake_getenv).initialise);
  g_fake_env = {{"MOTIFBENCH_MPI", "yes"}};
  const auto d = decide_mpi(fake_getenv);
  EXPECT_FALSE(d.initialise);
  EXPECT_NE(d.error.find("valid: auto"), std::string::npos) << d.error;
}

}  // namespace
}  // namespace motifbench::detail

namespace motifbench::detail {
namespace {

// A rank's CPUs as the kernel's cpulist format writes them, its steps by the
// CPU they ended on (most first), and the text a gather carries, both ways.
TEST(CpuPlacement, ListsCountsAndTravels) {
  EXPECT_EQ(cpu_list_text({}), "");
  EXPECT_EQ(cpu_list_text({3, 0, 1, 2, 6, 9, 8}), "0-3,6,8-9");
  EXPECT_EQ(cpu_list_text({5, 5, 4}), "4-5");
  EXPECT_EQ(cpu_list_text({7}), "7");
  // And back (coupling.server_cpus): ascending, once each; anything else is a reason.
  std::vector<int> parsed;
  std::string why;
  ASSERT_TRUE(parse_cpu_list("8-9,0-3,6,2", &parsed, &why)) << why;
  EXPECT_EQ(parsed, (std::vector<int>{0, 1, 2, 3, 6, 8, 9}));
  for (const char* bad : {"", "x", "3-1", "1,", "-2", "1-", "0-99999999", "1 ,2"}) {
    why.clear();
    EXPECT_FALSE(parse_cpu_list(bad, &parsed, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  StepCpus steps;
  for (int cpu : {1, 3, 3, -1, 3, 1, 12}) steps.add(cpu);
  const std::vector<std::pair<int, std::int64_t>> want{{3, 3}, {1, 2}, {12, 1}};
  EXPECT_EQ(steps.counts(), want);
  EXPECT_EQ(steps.unknown(), 1) << "a step whose CPU the kernel did not say";
  const RankCpus back = parse_placement_text(placement_text("node-a", {0, 1, 2, 12}, steps));
  EXPECT_EQ(back.host, "node-a");
  EXPECT_EQ(back.allowed, "0-2,12");
  EXPECT_EQ(back.allowed_count, 4);
  EXPECT_EQ(back.step_cpus, want);
  EXPECT_TRUE(back.server_cpus.empty()) << "no server answered";
  const RankCpus none = parse_placement_text(placement_text("h", {0}, StepCpus{}));
  EXPECT_EQ(none.allowed, "0");
  EXPECT_TRUE(none.step_cpus.empty());
  // Where its servers computed: what a tally counted between two snapshots.
  ServerCpus tally;
  tally.add(0);  // a warm-up call, before the measured steps
  const StepCpus before = tally.snapshot();
  for (int cpu : {1, 1, 0, 1}) tally.add(cpu);
  StepCpus measured;
  measured.add_since(before, tally.snapshot());
  const std::vector<std::pair<int, std::int64_t>> calls{{1, 3}, {0, 1}};
  EXPECT_EQ(measured.counts(), calls);
  const RankCpus served = parse_placement_text(placement_text("h", {0, 1}, steps, measured));
  EXPECT_EQ(served.step_cpus, want);
  EXPECT_EQ(served.server_cpus, calls);
  EXPECT_FALSE(allowed_cpus().empty()) << "this process may run somewhere";
}

}  // namespace
}  // namespace motifbench::detail
