// Measurement integrity: thread-safe latency, harness overhead measured on the
// null work, nothing pushed into Kokkos Tools, energy over every component,
// NVML through dlopen, hardware counters that say why they are missing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include <Kokkos_Core.hpp>

#include <dlfcn.h>

#include "core/cpu_idle.hpp"
#include "core/nccl_reducer.hpp"
#include "core/null_motif.hpp"
#include "coupling/components.hpp"
#include "core/run_context_impl.hpp"
#include "core/runner.hpp"
#include "measure/counters.hpp"
#include "motifbench/energy.hpp"

namespace motifbench {
namespace {
namespace fs = std::filesystem;

TEST(Latency, RecordingIsSafeFromManyThreads) {
  ConfigSchema schema;
  Config cfg(schema);
  detail::RunContextImpl ctx(cfg, Coupling::None, 0, 0, 1);
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&ctx, t] {
      for (int i = 0; i < kEach; ++i) ctx.record_latency_ns(t % 2 ? "a" : "b", static_cast<double>(i));
    });
  for (auto& t : ts) t.join();
  auto lat = ctx.take_latencies();
  EXPECT_EQ(lat["a"].size() + lat["b"].size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(ctx.events(), static_cast<std::uint64_t>(kThreads * kEach));
}

int g_regions = 0;
void count_region(const char*) { ++g_regions; }

TEST(Overhead, HarnessMeasurementsPushNoKokkosRegions) {
  Kokkos::Tools::Experimental::set_push_region_callback(count_region);
  g_regions = 0;
  (void)detail::calibrate_event_cost_ns();
  (void)detail::measure_harness_overhead(2, 50, 64);
  const int during_measurement = g_regions;
  // Control: a motif's phase does reach the tool.
  ConfigSchema schema;
  Config cfg(schema);
  detail::RunContextImpl ctx(cfg, Coupling::None, 0, 0, 1);
  { ScopedPhase p(ctx, ctx.phase("simulate")); }
  const int after_phase = g_regions;
  Kokkos::Tools::Experimental::set_push_region_callback(nullptr);
  EXPECT_EQ(during_measurement, 0);
  EXPECT_EQ(after_phase, 1);
}

// A kernel of the default execution space that runs for a while: `reps`
// dependent multiply-adds per element. (A free function: a CUDA lambda may
// not live in a test body, which is a private member.)
void long_kernel(const Kokkos::View<double*>& v, int reps) {
  Kokkos::parallel_for(
      "motifbench::test::long_kernel", Kokkos::RangePolicy<>(0, static_cast<int>(v.extent(0))), KOKKOS_LAMBDA(int i) {
        double x = v(i);
        for (int k = 0; k < reps; ++k) x = x * 1.0000001 + 1e-9;
        v(i) = x;
      });
}

// Timing on asynchronous backends (GPUs): a kernel queued in one phase is
// charged to that phase, not to the next (ScopedPhase fences both edges). The
// kernel runs long enough (tens of ms) that a leak would be plain. On a
// backend whose launches return only when the work is done (Serial, OpenMP)
// nothing can leak, and the test says so by skipping.
TEST(PhaseTiming, QueuedKernelWorkDoesNotLeakIntoTheNextPhase) {
  Kokkos::View<double*> v("leak", 1 << 20);
  int reps = 16;
  double kernel_s = 0;
  for (; reps < (1 << 20); reps *= 2) {  // grow until the kernel takes 20 ms
    Kokkos::fence();
    const auto t = now_ns();
    long_kernel(v, reps);
    Kokkos::fence();
    kernel_s = (now_ns() - t) * 1e-9;
    if (kernel_s > 0.02) break;
  }
  Kokkos::fence();
  auto t = now_ns();
  long_kernel(v, reps);
  const double launch_s = (now_ns() - t) * 1e-9;
  Kokkos::fence();
  if (launch_s > 0.5 * kernel_s)
    GTEST_SKIP() << Kokkos::DefaultExecutionSpace::name() << " runs kernels synchronously (launch " << launch_s * 1e3
                 << " ms of a " << kernel_s * 1e3 << " ms kernel): no queued work can leak on this backend";
  ConfigSchema schema;
  Config cfg(schema);
  detail::RunContextImpl ctx(cfg, Coupling::None, 0, 0, 1);
  const PhaseId queued = ctx.phase("queued"), next = ctx.phase("next");
  {
    ScopedPhase p(ctx, queued);
    long_kernel(v, reps);
  }
  { ScopedPhase p(ctx, next); }
  const auto totals = ctx.phase_totals();
  EXPECT_GE(totals.at(static_cast<std::size_t>(queued)).total_s, 0.5 * kernel_s) << "the kernel left its phase";
  EXPECT_LT(totals.at(static_cast<std::size_t>(next)).total_s, 0.1 * kernel_s) << "the next phase absorbed the kernel";
}

TEST(Overhead, NullMotifMeasuresWithAndWithoutTheMachinery) {
  auto m = detail::measure_harness_overhead(3, 200, 256);
  EXPECT_EQ(m.rounds, 3);
  EXPECT_EQ(m.steps_per_round, 200);
  EXPECT_GT(m.without_ns_per_step, 0.0);
  EXPECT_GT(m.with_ns_per_step, 0.0);
  // One phase (2 edges), one work declaration, two latency samples, the loop event.
  EXPECT_DOUBLE_EQ(m.events_per_step, 6.0);
}

fs::path scratch(const std::string& what) {
  fs::path p = fs::path(::testing::TempDir()) /
               (what + "_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(EnergyScope, ProcStatCpuTimeParsesOddCommandNames) {
  auto root = scratch("proc");
  fs::create_directories(root / "4242");
  // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  std::ofstream(root / "4242" / "stat") << "4242 (my (odd) prog) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0\n";
  auto cpu = proc_cpu_s(4242, root.string());
  ASSERT_TRUE(cpu.has_value());
  EXPECT_NEAR(*cpu, 300.0 / static_cast<double>(sysconf(_SC_CLK_TCK)), 1e-12);
  EXPECT_FALSE(proc_cpu_s(4243, root.string()).has_value()) << "a gone process has no figure, not 0";
  fs::remove_all(root);
}

TEST(EnergyScope, EstimateCoversEveryComponentAndNamesWhatItCannotSee) {
  std::vector<ComponentCpu> all{{"ranks", 0, 2.0, true, ""},
                                {"inference_server[0]", 11, 2.5, true, "unix:/x"},
                                {"redis", 12, 0.5, true, "127.0.0.1:1"}};
  auto r = estimate_energy(all, 10.0, 10.0, 1.0, "");
  EXPECT_EQ(r.method, EnergyMethod::Estimated);
  ASSERT_TRUE(r.energy_j.has_value());
  EXPECT_NEAR(*r.energy_j, 5.0 * 10.0 + 10.0 * 1.0, 1e-9);
  EXPECT_NEAR(r.domains_j.at("inference_server[0]"), 25.0, 1e-9);
  EXPECT_EQ(r.scope, "processes");
  all.push_back({"inference_server[1]", 0, 0.0, false, "node7:50051"});
  r = estimate_energy(all, 10.0, 10.0, 1.0, "");
  EXPECT_NEAR(*r.energy_j, 60.0, 1e-9);
  EXPECT_EQ(r.scope.rfind("partial", 0), 0u) << r.scope;
  EXPECT_NE(r.scope.find("node7:50051"), std::string::npos) << r.scope;
  EXPECT_EQ(r.domains_j.count("inference_server[1]"), 0u) << "an unseen component gets no figure, not 0 J";
}

TEST(EnergyScope, PowercapAddsDramAndLeavesPsysOut) {
  auto root = scratch("powercap");
  auto zone = [](const fs::path& dir, const std::string& name, unsigned long long uj) {
    fs::create_directories(dir);
    std::ofstream(dir / "name") << name << "\n";
    std::ofstream(dir / "energy_uj") << uj << "\n";
    std::ofstream(dir / "max_energy_range_uj") << 1'000'000'000ULL << "\n";
  };
  zone(root / "intel-rapl:0", "package-0", 0);
  zone(root / "intel-rapl:0" / "intel-rapl:0:0", "core", 0);
  zone(root / "intel-rapl:0" / "intel-rapl:0:1", "dram", 0);
  zone(root / "intel-rapl:1", "psys", 0);
  auto m = make_powercap_meter(root.string(), nullptr);
  ASSERT_NE(m, nullptr);
  m->start();
  std::ofstream(root / "intel-rapl:0" / "energy_uj") << 3'000'000 << "\n";
  std::ofstream(root / "intel-rapl:0" / "intel-rapl:0:0" / "energy_uj") << 2'000'000 << "\n";
  std::ofstream(root / "intel-rapl:0" / "intel-rapl:0:1" / "energy_uj") << 1'000'000 << "\n";
  std::ofstream(root / "intel-rapl:1" / "energy_uj") << 9'000'000 << "\n";
  auto r = m->stop();
  ASSERT_TRUE(r.energy_j.has_value());
  EXPECT_NEAR(*r.energy_j, 4.0, 1e-9) << "package 3 J + DRAM 1 J; core is inside the package, psys overlaps";
  EXPECT_NEAR(r.domains_j.at("dram(intel-rapl:0:1)"), 1.0, 1e-9);
  EXPECT_NEAR(r.domains_j.at("psys(intel-rapl:1)"), 9.0, 1e-9);
  EXPECT_EQ(r.domains_j.count("core(intel-rapl:0:0)"), 0u);
  fs::remove_all(root);
}

TEST(Nvml, ReadsEveryGpuThroughDlopen) {
  std::string why;
  auto m = make_nvml_meter(MOTIFBENCH_FAKE_NVML, &why);
  ASSERT_NE(m, nullptr) << why;
  m->start();
  auto r = m->stop();
  EXPECT_EQ(r.method, EnergyMethod::Measured);
  EXPECT_EQ(r.source, "nvml");
  ASSERT_TRUE(r.energy_j.has_value());
  EXPECT_NEAR(*r.energy_j, 2.0, 1e-9);  // 1 J per fake GPU
  EXPECT_EQ(r.domains_j.size(), 2u);
  EXPECT_NEAR(r.domains_j.at("gpu1 Fake GPU"), 1.0, 1e-9);
}

TEST(Nvml, MissingLibraryOrGpuIsUnavailableWithTheReason) {
  std::string why;
  EXPECT_EQ(make_nvml_meter("/nonexistent/libnvidia-ml.so.1", &why), nullptr);
  EXPECT_NE(why.find("cannot load"), std::string::npos) << why;
  setenv("FAKE_NVML_GPUS", "0", 1);
  EXPECT_EQ(make_nvml_meter(MOTIFBENCH_FAKE_NVML, &why), nullptr);
  unsetenv("FAKE_NVML_GPUS");
  EXPECT_NE(why.find("no GPU"), std::string::npos) << why;
}

TEST(Nvml, NamesTheGpusForTheContext) {
  std::string detail;
  EXPECT_EQ(nvml_gpu_names(MOTIFBENCH_FAKE_NVML, &detail), (std::vector<std::string>{"Fake GPU", "Fake GPU"}));
  EXPECT_NE(detail.find("nvmlDeviceGetName"), std::string::npos) << detail;
  EXPECT_TRUE(nvml_gpu_names("/nonexistent/libnvidia-ml.so.1", &detail).empty());
  EXPECT_NE(detail.find("cannot load"), std::string::npos) << detail;
}

// The NCCL reducer's dlopen path against a stand-in NCCL (one rank): the
// communicator is made on the rank's device, the sum is in place, and the
// stream is synchronised before allreduce_sum returns.
TEST(Nccl, ReducesThroughDlopenOnTheRanksDevice) {
  std::vector<std::string> channels;
  auto r = detail::make_nccl_reducer(MOTIFBENCH_FAKE_NCCL, 3,
                                     [&](const char* c, double ns) {
                                       EXPECT_GE(ns, 0.0);
                                       channels.emplace_back(c);
                                     });
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->memory_space(), MemorySpace::Cuda);
  EXPECT_EQ(r->world_size(), 1);
  void* lib = dlopen(MOTIFBENCH_FAKE_NCCL, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr);
  auto count = [&](const char* name) { return reinterpret_cast<int (*)()>(dlsym(lib, name))(); };
  EXPECT_EQ(count("fake_nccl_device"), 3);
  std::vector<float> g{1.0f, -2.0f, 3.5f};
  r->allreduce_sum(g.data(), g.size());
  EXPECT_EQ(g, (std::vector<float>{1.0f, -2.0f, 3.5f}));  // the sum over one rank
  EXPECT_EQ(count("fake_nccl_allreduces"), 1);
  EXPECT_EQ(count("fake_nccl_synced"), 1);
  EXPECT_EQ(reinterpret_cast<std::size_t (*)()>(dlsym(lib, "fake_nccl_last_count"))(), 3u);
  EXPECT_EQ(channels, (std::vector<std::string>{"straggler_wait", "allreduce"}));
  dlclose(lib);
}

TEST(Nccl, MissingLibraryIsAClearError) {
  try {
    detail::make_nccl_reducer("/nonexistent/libnccl.so.2", 0, [](const char*, double) {});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot load NCCL (/nonexistent/libnccl.so.2)"), std::string::npos)
        << e.what();
  }
}

// In a build with every component, every mode is available; the messages for
// a missing one name the CMake option and what the build can run.
TEST(Components, FullBuildHasEveryModeAndMessagesNameTheOption) {
  for (const char* c : {"grpc", "redis", "mpi"}) EXPECT_TRUE(detail::have_component(c)) << c;
  for (Coupling m : all_couplings()) EXPECT_EQ(detail::coupling_unavailable(m, "auto"), "") << to_string(m);
  const std::string why = detail::missing_component_message("grpc");
  EXPECT_NE(why.find("MOTIFBENCH_WITH_GRPC=OFF"), std::string::npos) << why;
  EXPECT_NE(why.find("semi-tight and loose"), std::string::npos) << why;
}

TEST(Counters, UnavailableSaysWhyAndNoneIsOff) {
  std::string why;
  EXPECT_EQ(detail::make_hardware_counters("none", &why), nullptr);
  EXPECT_NE(why.find("switched off"), std::string::npos);
  why.clear();
  auto c = detail::make_hardware_counters("auto", &why);
  if (c) {
    EXPECT_FALSE(c->names().empty());
    std::vector<long long> v(c->names().size());
    c->read(v.data());
  } else {
    EXPECT_FALSE(why.empty()) << "no counters must come with a reason";
  }
}

}  // namespace
}  // namespace motifbench

namespace motifbench {
namespace {

TEST(Provenance, ContextRecordsWhatDecidesTheFigures) {
  setenv("OMP_NUM_THREADS", "3", 1);
  setenv("OPENBLAS_VERBOSE", "0", 1);
  auto c = detail::gather_system_context({"test"}, 1);
  unsetenv("OMP_NUM_THREADS");
  unsetenv("OPENBLAS_VERBOSE");
  EXPECT_EQ(c.environment["OMP_NUM_THREADS"], "3");
  EXPECT_EQ(c.environment["OPENBLAS_VERBOSE"], "0");
  EXPECT_FALSE(c.blas_library.empty());
  EXPECT_GE(c.load_average_start, 0.0);
  EXPECT_FALSE(c.cpu_governor.empty());
  // The commit is the build's: 40 hex digits, or "unknown" when built outside git.
  EXPECT_TRUE(c.git_commit == "unknown" || c.git_commit.size() == 40u) << c.git_commit;
}

TEST(Provenance, WarnsOnABusyMachineAndAnUnoptimisedBuild) {
  detail::SystemContext c;
  c.cores = 2;
  c.build_type = "Debug";
  c.optimised = false;
  c.load_average_start = 0.5;
  c.load_average_end = 3.5;
  auto w = detail::context_warnings(c);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("not optimised"), std::string::npos);
  EXPECT_NE(w[1].find("exceeds the 2 cores"), std::string::npos);
  c.optimised = true;
  c.load_average_end = 1.0;
  EXPECT_TRUE(detail::context_warnings(c).empty());
}

// cpuidle's driver and cpu0's states from a fake sysfs tree; none without one.
TEST(CpuIdle, ReadsTheDriverAndStates) {
  const auto root = scratch("cpuidle");
  const auto cpu = root / "devices/system/cpu";
  fs::create_directories(cpu / "cpuidle");
  std::ofstream(cpu / "cpuidle/current_driver") << "intel_idle\n";
  const char* names[] = {"POLL", "C1E", "C6"};
  const char* latencies[] = {"0", "10", "x"};
  for (int n = 0; n < 3; ++n) {
    const auto dir = cpu / ("cpu0/cpuidle/state" + std::to_string(n));
    fs::create_directories(dir);
    std::ofstream(dir / "name") << names[n] << "\n";
    std::ofstream(dir / "latency") << latencies[n] << "\n";
    std::ofstream(dir / "disable") << (n == 2 ? "1\n" : "0\n");
  }
  const auto idle = detail::read_cpu_idle(root.string());
  EXPECT_EQ(idle.driver, "intel_idle");
  ASSERT_EQ(idle.states.size(), 3u);
  EXPECT_EQ(idle.states[1].name, "C1E");
  EXPECT_EQ(idle.states[1].exit_latency_us, 10);
  EXPECT_FALSE(idle.states[1].disabled);
  EXPECT_EQ(idle.states[2].exit_latency_us, -1);  // unreadable
  EXPECT_TRUE(idle.states[2].disabled);
  const auto bare = detail::read_cpu_idle((root / "nothing").string());
  EXPECT_EQ(bare.driver, "none");
  EXPECT_TRUE(bare.states.empty());
}

// The limit goes to the device as the kernel reads it (a native 32-bit value)
// and is held while the object lives; a device it cannot open is a reason,
// and -1 asks nothing. A plain file stands in for /dev/cpu_dma_latency.
TEST(CpuIdle, HoldsAWakeupLatencyLimit) {
  const auto dev = scratch("pmqos") / "cpu_dma_latency";
  std::ofstream(dev).close();
  {
    const detail::WakeupLatencyLimit limit(20, dev.string());
    const auto& held = limit.state();
    EXPECT_TRUE(held.held);
    EXPECT_EQ(held.requested_us, 20);
    EXPECT_NE(held.detail.find("held at 20 us through " + dev.string()), std::string::npos) << held.detail;
    EXPECT_NE(held.detail.find("the kernel's limit: 20 us"), std::string::npos) << held.detail;
    std::ifstream in(dev, std::ios::binary);
    std::int32_t written = -1;
    in.read(reinterpret_cast<char*>(&written), sizeof written);
    EXPECT_EQ(in.gcount(), static_cast<std::streamsize>(sizeof written));
    EXPECT_EQ(written, 20);
  }
  const detail::WakeupLatencyLimit missing(0, (dev.parent_path() / "absent" / "dev").string());
  EXPECT_FALSE(missing.state().held);
  EXPECT_EQ(missing.state().detail.rfind("not held: cannot open ", 0), 0u) << missing.state().detail;
  const detail::WakeupLatencyLimit none(-1, dev.string());
  EXPECT_FALSE(none.state().held);
  EXPECT_EQ(none.state().requested_us, -1);
  EXPECT_EQ(none.state().detail, "not requested");
  // A limit asked for and not held is a warning; none asked, none.
  detail::SystemContext c;
  c.cores = 2;
  c.cpu_idle.wakeup_limit = missing.state();
  const auto w = detail::context_warnings(c);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind("run.cpu_wakeup_latency_us=0 was not held: cannot open", 0), 0u) << w[0];
  c.cpu_idle.wakeup_limit = none.state();
  EXPECT_TRUE(detail::context_warnings(c).empty());
}

// A held limit takes effect only through a cpuidle driver, and only where an
// enabled state takes longer to leave than the limit (or its latency is
// unknown); otherwise the result says why not, and warns.
TEST(CpuIdle, AHeldLimitSaysWhetherItCanTakeEffect) {
  detail::CpuIdle idle;
  idle.driver = "none";
  EXPECT_NE(detail::limit_effect(idle, 0).find("no cpuidle driver"), std::string::npos);
  idle.driver = "intel_idle";
  idle.states = {{"POLL", 0, false}, {"C1", 2, false}, {"C6", 170, true}};
  EXPECT_EQ(detail::limit_effect(idle, 0), "");  // C1 is ruled out
  const auto within = detail::limit_effect(idle, 2);  // C6 is disabled already
  EXPECT_NE(within.find("already wakes within it (the deepest, C1, in 2 us)"), std::string::npos) << within;
  idle.states[2].disabled = false;
  EXPECT_EQ(detail::limit_effect(idle, 2), "");
  idle.states[2].exit_latency_us = -1;  // unknown: it may be ruled out
  EXPECT_EQ(detail::limit_effect(idle, 1000), "");
  idle.states = {{"POLL", 0, true}};
  EXPECT_NE(detail::limit_effect(idle, 0).find("lists no enabled idle state"), std::string::npos);

  const auto dev = scratch("pmqos_effect") / "cpu_dma_latency";
  std::ofstream(dev).close();
  const detail::WakeupLatencyLimit limit(0, dev.string());
  detail::SystemContext c;
  c.cores = 2;
  c.cpu_idle.driver = "none";
  detail::record_wakeup_limit(c.cpu_idle, limit.state());
  EXPECT_TRUE(c.cpu_idle.wakeup_limit.held);
  EXPECT_FALSE(c.cpu_idle.wakeup_limit.effective);
  EXPECT_NE(c.cpu_idle.wakeup_limit.detail.find("; no effect: this machine has no cpuidle driver"), std::string::npos)
      << c.cpu_idle.wakeup_limit.detail;
  auto w = detail::context_warnings(c);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind("run.cpu_wakeup_latency_us=0 was held at 0 us", 0), 0u) << w[0];
  c.cpu_idle.driver = "haltpoll";
  c.cpu_idle.states = {{"POLL", 0, false}, {"haltpoll", 200, false}};
  detail::record_wakeup_limit(c.cpu_idle, limit.state());
  EXPECT_TRUE(c.cpu_idle.wakeup_limit.effective);
  EXPECT_EQ(c.cpu_idle.wakeup_limit.detail.find("no effect"), std::string::npos);
  EXPECT_TRUE(detail::context_warnings(c).empty());
}

}  // namespace
}  // namespace motifbench
