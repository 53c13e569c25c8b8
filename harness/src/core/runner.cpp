#include "core/runner.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <exception>

#include <Kokkos_Core.hpp>

#include "core/run_context_impl.hpp"
#include "motifbench/energy.hpp"

namespace motifbench::detail {
namespace {

double seconds_since(std::int64_t t0_ns) { return (now_ns() - t0_ns) * 1e-9; }

// Rank r's raw samples travel to rank 0 as [name_len][name][n][samples...].
void append_channel(std::vector<char>& buf, const std::string& name, const std::vector<double>& v) {
  std::uint64_t len = name.size(), n = v.size();
  auto put = [&](const void* p, std::size_t bytes) {
    const char* c = static_cast<const char*>(p);
    buf.insert(buf.end(), c, c + bytes);
  };
  put(&len, sizeof len);
  put(name.data(), name.size());
  put(&n, sizeof n);
  put(v.data(), n * sizeof(double));
}

std::map<std::string, std::vector<double>> gather_latencies(const std::map<std::string, std::vector<double>>& mine,
                                                            int rank, int nranks) {
  if (nranks == 1) return mine;
  std::vector<char> buf;
  for (const auto& [name, v] : mine) append_channel(buf, name, v);
  int bytes = static_cast<int>(buf.size());
  std::vector<int> sizes(nranks), displs(nranks);
  MPI_Gather(&bytes, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<char> all;
  if (rank == 0) {
    int off = 0;
    for (int r = 0; r < nranks; ++r) {
      displs[r] = off;
      off += sizes[r];
    }
    all.resize(static_cast<std::size_t>(off));
  }
  MPI_Gatherv(buf.data(), bytes, MPI_CHAR, all.data(), sizes.data(), displs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::map<std::string, std::vector<double>> merged;
  if (rank != 0) return merged;
  std::size_t pos = 0;
  auto get = [&](void* p, std::size_t n) {
    std::copy(all.begin() + pos, all.begin() + pos + n, static_cast<char*>(p));
    pos += n;
  };
  while (pos < all.size()) {
    std::uint64_t len = 0, n = 0;
    get(&len, sizeof len);
    std::string name(len, '\0');
    get(name.data(), len);
    get(&n, sizeof n);
    auto& dst = merged[name];
    std::size_t old = dst.size();
    dst.resize(old + n);
    get(dst.data() + old, n * sizeof(double));
  }
  return merged;
}

}  // namespace

std::uint64_t repetition_seed(std::uint64_t base, int r) {
  std::uint64_t z = base + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(r + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) & 0x7fffffffULL;
}

std::string config_hash(const std::map<std::string, std::string>& effective) {
  // FNV-1a 64 over "key=value\n" lines in key order.
  std::uint64_t h = 1469598103934665603ULL;
  for (const auto& [k, v] : effective) {
    for (char c : k + "=" + v + "\n") {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

double measure_stream_copy_bytes_per_s() {
  const std::size_t n = std::size_t{8} << 20;  // 8 Mi doubles = 64 MiB per array, far beyond cache
  Kokkos::View<double*> a(Kokkos::ViewAllocateWithoutInitializing("stream_a"), n);
  Kokkos::View<double*> b(Kokkos::ViewAllocateWithoutInitializing("stream_b"), n);
  Kokkos::deep_copy(a, 1.0);
  Kokkos::deep_copy(b, 0.0);
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    Kokkos::fence();
    auto t0 = now_ns();
    Kokkos::parallel_for(
        "motifbench::stream_copy", Kokkos::RangePolicy<>(0, n), KOKKOS_LAMBDA(std::size_t i) { b(i) = a(i); });
    Kokkos::fence();
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * n * sizeof(double) / best;
}

double calibrate_event_cost_ns() {
  ConfigSchema schema;
  Config cfg(schema);
  RunContextImpl ctx(cfg, Coupling::None, 0, 0, 1);
  PhaseId p = ctx.phase("calibration");
  const int n = 20000;
  auto t0 = now_ns();
  for (int i = 0; i < n; ++i) {
    ScopedPhase s(ctx, p);
    ctx.declare_work(p, Work{1, 1, 1, 0});
    ctx.record_latency_ns("calibration", 1.0);
  }
  double total = static_cast<double>(now_ns() - t0);
  return total / static_cast<double>(ctx.events());
}

RunResult begin_result(const RunRequest& req, const Config& config) {
  RunResult res;
  res.motif = req.motif->name;
  res.coupling = to_string(req.coupling);
  res.size = req.size;
  res.base_seed = static_cast<std::uint64_t>(config.get_int("run.seed"));
  res.config_effective = config.effective_text();
  res.config_requested = config.requested_text();
  for (const auto& [k, src] : config.sources()) res.config_requested_source[k] = to_string(src);
  res.config_hash = config_hash(res.config_effective);
  res.energy_method = "unavailable";
  res.energy_source = "none";
  res.energy_detail = "the run did not start";
  return res;
}

RunResult run_motif(const RunRequest& req, const Config& config, CouplingEnv* env) {
  RunResult res = begin_result(req, config);
  if (env != nullptr) {
    res.services = env->service_info;
    res.server_endpoints = env->remote.endpoints;
    if (env->store) res.staging_store = env->store->describe();
  }
  res.stream_copy_bytes_per_s = measure_stream_copy_bytes_per_s();
  res.overhead.per_event_ns = calibrate_event_cost_ns();

  const int reps = static_cast<int>(config.get_int("run.repetitions"));
  const double min_time = config.get_real("run.min_time_s");
  const auto min_iter = config.get_int("run.min_iterations");
  const auto max_iter = config.get_int("run.max_iterations");
  const double warm_time = config.get_real("run.warmup_s");
  const auto warm_iter = config.get_int("run.warmup_iterations");

  std::map<std::string, std::vector<double>> all_latency;
  for (int r = 0; r < reps; ++r) {
    RepetitionResult rep;
    rep.index = r;
    // Ranks get distinct streams; rank 0 of repetition r uses repetition_seed(base, r).
    rep.seed = repetition_seed(res.base_seed + 1000003ULL * static_cast<std::uint64_t>(req.rank), r);
    RunContextImpl ctx(config, req.coupling, rep.seed, req.rank, req.nranks, env);
    auto energy = make_energy_meter(config.get_string("energy.source"), config.get_real("energy.watts_per_core"),
                                    config.get_real("energy.idle_watts"), config.get_string("energy.powercap_root"),
                                    config.get_string("energy.cray_root"));
    std::unique_ptr<Motif> motif;
    try {
      motif = req.motif->create();
      auto t_setup = now_ns();
      motif->setup(ctx);
      rep.setup_s = seconds_since(t_setup);

      auto t_warm = now_ns();
      std::int64_t w = 0;
      while ((w < warm_iter || seconds_since(t_warm) < warm_time) && !motif->done()) {
        ctx.set_step(-1 - w, true);
        motif->step(ctx);
        ++w;
      }
      rep.warmup_s = seconds_since(t_warm);
      rep.warmup_iterations = w;
      ctx.reset_measurements();

      energy->start();
      auto t0 = now_ns();
      auto last_poll = t0;
      std::int64_t i = 0;
      for (;;) {
        ctx.set_step(i, false);
        motif->step(ctx);
        ++i;
        ctx.count_event();  // the loop's own clock read and checks
        auto t = now_ns();
        if (t - last_poll > 1'000'000'000) {
          energy->poll();
          last_poll = t;
        }
        double elapsed = (t - t0) * 1e-9;
        if (motif->done()) break;
        if (max_iter > 0 && i >= max_iter) break;
        if (elapsed >= min_time && i >= min_iter) break;
      }
      rep.measured_s = seconds_since(t0);
      rep.iterations = i;
      rep.energy = energy->stop();
      rep.phases = ctx.phase_totals();
      rep.harness_events = ctx.events();
      motif->finish(ctx);
    } catch (const std::exception& e) {
      res.valid = false;
      res.invalid_reasons.push_back("repetition " + std::to_string(r) + ": " + e.what());
      rep.energy = energy->stop();
      rep.phases = ctx.phase_totals();
      rep.metrics = ctx.metrics();
      for (auto& [k, v] : ctx.take_latencies()) {
        rep.latency[k] = summarize_latency(v);
        all_latency[k].insert(all_latency[k].end(), v.begin(), v.end());
      }
      res.reps.push_back(std::move(rep));
      break;  // a failed component ends the run promptly
    }
    rep.metrics = ctx.metrics();
    for (const auto& why : ctx.invalid_reasons()) {
      res.valid = false;
      res.invalid_reasons.push_back("repetition " + std::to_string(r) + ": " + why);
    }
    if (!motif->done()) {
      if (rep.measured_s < min_time) res.warnings.push_back("repetition " + std::to_string(r) +
                                                            ": run.max_iterations reached before run.min_time_s");
    }
    if (rep.iterations == 0) {
      res.valid = false;
      res.invalid_reasons.push_back("repetition " + std::to_string(r) + ": no measured iterations");
    }
    // Per-repetition summaries give compare its samples for a rank test.
    for (auto& [k, v] : ctx.take_latencies()) {
      rep.latency[k] = summarize_latency(v);
      all_latency[k].insert(all_latency[k].end(), v.begin(), v.end());
    }
    if (!req.quiet && req.rank == 0)
      std::fprintf(stderr, "motifbench: %s/%s/%s repetition %d/%d: %lld steps in %.3f s\n", res.motif.c_str(),
                   res.coupling.c_str(), res.size.c_str(), r + 1, reps, static_cast<long long>(rep.iterations),
                   rep.measured_s);
    res.reps.push_back(std::move(rep));
  }

  // Figures.
  std::vector<double> measured, ips, energy_j;
  std::uint64_t events = 0;
  double measured_total = 0;
  for (const auto& rep : res.reps) {
    measured.push_back(rep.measured_s);
    if (rep.measured_s > 0) ips.push_back(rep.iterations / rep.measured_s);
    if (rep.energy.energy_j) energy_j.push_back(*rep.energy.energy_j);
    events += rep.harness_events;
    measured_total += rep.measured_s;
  }
  res.measured_s = summarize_reps(measured);
  res.iterations_per_s = summarize_reps(ips);
  if (!res.reps.empty()) {
    const auto& e = res.reps.front().energy;
    res.energy_source = e.source;
    res.energy_method = to_string(e.method);
    res.energy_detail = e.detail;
    res.energy_available = energy_j.size() == res.reps.size();
    if (res.energy_available) res.energy_j = summarize_reps(energy_j);
  }
  res.overhead.events = events;
  res.overhead.measured_s = measured_total;
  res.overhead.overhead_s = events * res.overhead.per_event_ns * 1e-9;
  res.overhead.fraction = measured_total > 0 ? res.overhead.overhead_s / measured_total : 0.0;

  // Phases in the order the motif registered them.
  if (!res.reps.empty()) {
    for (std::size_t p = 0; p < res.reps.front().phases.size(); ++p) {
      PhaseSummary ps;
      ps.name = res.reps.front().phases[p].name;
      std::vector<double> totals;
      double sum_s = 0;
      for (const auto& rep : res.reps) {
        if (p >= rep.phases.size()) continue;
        const auto& t = rep.phases[p];
        totals.push_back(t.total_s);
        sum_s += t.total_s;
        ps.count += t.count;
        ps.work.items += t.work.items;
        ps.work.bytes += t.work.bytes;
        ps.work.flops += t.work.flops;
        ps.work.bytes_sent += t.work.bytes_sent;
      }
      ps.total_s = summarize_reps(totals);
      ps.share_fraction = res.measured_s.mean > 0 ? ps.total_s.mean / res.measured_s.mean : 0.0;
      if (sum_s > 0) {
        ps.items_per_s = ps.work.items / sum_s;
        ps.bytes_per_s = ps.work.bytes / sum_s;
        ps.flops_per_s = ps.work.flops / sum_s;
        ps.bytes_sent_per_s = ps.work.bytes_sent / sum_s;
        ps.stream_fraction = res.stream_copy_bytes_per_s > 0 ? ps.bytes_per_s / res.stream_copy_bytes_per_s : 0;
      }
      res.phases.push_back(ps);
    }
  }

  auto merged = gather_latencies(all_latency, req.rank, req.nranks);
  std::string few;
  for (auto& [name, samples] : merged) {
    ChannelSummary c;
    c.name = name;
    for (double v : samples) c.histogram.add(v);
    c.latency = summarize_latency(std::move(samples));
    if (c.latency.count < 1000) few += (few.empty() ? "" : ", ") + name + " (" + std::to_string(c.latency.count) + ")";
    res.channels.push_back(std::move(c));
  }
  if (!few.empty())
    res.warnings.push_back("p99.9 needs at least 1000 samples to differ from max; fewer in: " + few);
  return res;
}

}  // namespace motifbench::detail
