#include "core/runner.hpp"


#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>

#include <Kokkos_Core.hpp>

#include "core/cpu_placement.hpp"
#include "core/mpi_session.hpp"
#include "core/null_motif.hpp"
#include "core/run_context_impl.hpp"
#include "motifbench/energy.hpp"
#include "motifbench/worker_process.hpp"

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

using Samples = std::map<std::string, std::vector<double>>;

// Every rank's samples at rank 0, one map per rank (other ranks get an empty
// vector). Collective: every rank calls it at the same point.
std::vector<Samples> gather_by_rank(const Samples& mine, int rank, int nranks) {
  if (nranks == 1) return {mine};
  std::vector<char> buf;
  for (const auto& [name, v] : mine) append_channel(buf, name, v);
  const auto texts = gather_text(std::string(buf.begin(), buf.end()));
  std::vector<Samples> out;
  if (rank != 0) return out;
  out.resize(texts.size());
  for (std::size_t r = 0; r < texts.size(); ++r) {
    const std::string& all = texts[r];
    std::size_t pos = 0;
    auto get = [&](void* p, std::size_t n) {
      std::copy(all.begin() + static_cast<std::ptrdiff_t>(pos), all.begin() + static_cast<std::ptrdiff_t>(pos + n),
                static_cast<char*>(p));
      pos += n;
    };
    while (pos < all.size()) {
      std::uint64_t len = 0, n = 0;
      get(&len, sizeof len);
      std::string name(len, '\0');
      get(name.data(), len);
      get(&n, sizeof n);
      auto& dst = out[r][name];
      std::size_t old = dst.size();
      dst.resize(old + n);
      get(dst.data() + old, n * sizeof(double));
    }
  }
  return out;
}

Samples merge_ranks(const std::vector<Samples>& by_rank) {
  Samples merged;
  for (const auto& m : by_rank)
    for (const auto& [name, v] : m) merged[name].insert(merged[name].end(), v.begin(), v.end());
  return merged;
}

// Both edges of every timed region the harness owns: no queued device work
// leaks across the edge, and every rank starts and stops together.
void fence_and_barrier(int nranks) {
  Kokkos::fence();
  if (nranks > 1) world_barrier();
}

// The ranks' loop decisions, agreed: a step may hold collectives, so one rank
// leaving its loop while another steps again would leave both waiting. True
// when any rank says so.
bool any_rank(bool local, int nranks) {
  return nranks <= 1 ? local : world_any(local);
}

// CPU time of every process of the run over one repetition: this rank (summed
// over the ranks by the caller), each embedded child (from /proc), and each
// external service, which this run cannot see.
struct ComponentSampler {
  struct Entry {
    std::string name;
    long pid = 0;
    bool visible = true;
    std::string where;
    double start_cpu = 0, last_cpu = 0;
  };
  std::vector<Entry> entries;
  double self_start = 0;

  // Worker processes (WorkerProcess): those reaped during the repetition
  // through RUSAGE_CHILDREN, those still running through /proc.
  double children_start = 0;
  std::map<pid_t, double> workers_start;
  double worker_cpu_s() const {
    double cpu = reaped_children_cpu_s() - children_start;
    const auto live = live_worker_pids();
    for (const auto& [pid, start] : workers_start)
      if (std::find(live.begin(), live.end(), pid) == live.end()) cpu -= start;  // reaped: counted from its start
    for (pid_t pid : live) {
      auto it = workers_start.find(pid);
      cpu += proc_cpu_s(pid).value_or(0) - (it == workers_start.end() ? 0.0 : it->second);
    }
    return std::max(0.0, cpu);
  }

  void begin(const CouplingEnv* env, int rank) {
    entries.clear();
    self_start = self_cpu_s();
    children_start = reaped_children_cpu_s();
    workers_start.clear();
    for (pid_t pid : live_worker_pids()) workers_start[pid] = proc_cpu_s(pid).value_or(0);
    if (env == nullptr || rank != 0) return;
    int servers = 0;
    std::vector<ServiceInfo> all = env->service_info;
    all.insert(all.end(), env->other_nodes.begin(), env->other_nodes.end());
    for (const auto& s : all) {
      Entry e;
      e.name = s.kind == "redis" ? "redis" : "inference_server[" + std::to_string(servers++) + "]";
      e.where = s.local ? s.endpoint : s.endpoint + " on node " + s.node + " (not visible from rank 0's node)";
      e.pid = s.pid;
      e.visible = s.embedded && s.local && s.pid > 0;
      if (e.visible) {
        auto cpu = proc_cpu_s(s.pid);
        e.visible = cpu.has_value();
        e.start_cpu = e.last_cpu = cpu.value_or(0);
      }
      entries.push_back(e);
    }
  }
  // Called now and then during the run, so a child that dies still counts up
  // to its last sample.
  void poll() {
    for (auto& e : entries)
      if (e.visible && e.pid > 0)
        if (auto cpu = proc_cpu_s(e.pid)) e.last_cpu = *cpu;
  }
  std::vector<ComponentCpu> end(int nranks, bool collective) {
    poll();
    double self = self_cpu_s() - self_start;
    double workers = worker_cpu_s();
    std::vector<ComponentCpu> out;
    if (nranks > 1 && collective) {
      world_sum(&self, 1);
      out.push_back(ComponentCpu{"ranks", 0, self, true, std::to_string(nranks) + " ranks, MPI sum of getrusage"});
    } else if (nranks > 1) {
      out.push_back(ComponentCpu{"rank 0", 0, self, true, "getrusage"});
      out.push_back(ComponentCpu{"other ranks", 0, 0.0, false, "the run failed before the ranks could sum"});
    } else {
      out.push_back(ComponentCpu{"ranks", 0, self, true, "1 rank, getrusage"});
    }
    if (nranks > 1 && collective) world_sum(&workers, 1);
    if (workers > 0 || !workers_start.empty() || !live_worker_pids().empty())
      out.push_back(ComponentCpu{"worker processes", 0, workers, true,
                                 "the mini-app's task processes (getrusage of reaped children, /proc of running ones)"});
    for (const auto& e : entries)
      out.push_back(ComponentCpu{e.name, e.pid, e.visible ? e.last_cpu - e.start_cpu : 0.0, e.visible,
                                 e.visible ? e.where + " (/proc/" + std::to_string(e.pid) + "/stat)" : e.where});
    return out;
  }
};

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
  ctx.set_profile_regions(false);  // a loaded Kokkos tool must not see these
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
  res.energy_scope = "none";
  res.counters_status = "unavailable: the run did not start";
  return res;
}

namespace {

}  // namespace

std::vector<std::string> non_finite_figures(const MotifMetrics& m, const std::vector<PhaseTotals>& phases) {
  std::vector<std::string> out;
  auto check = [&](const std::string& where, double v) {
    if (!std::isfinite(v)) out.push_back(where + " is " + (std::isnan(v) ? "NaN" : "infinite"));
  };
  for (const auto& [k, v] : m.scalars()) check("motif metric '" + k + "'", v);
  for (const auto& [name, points] : m.series())
    for (std::size_t i = 0; i < points.size(); ++i)
      for (const auto& [k, v] : points[i]) check("series '" + name + "' point " + std::to_string(i) + " '" + k + "'", v);
  for (const auto& [kind, fields] : m.events())
    for (const auto& [k, v] : fields) check("event '" + kind + "' field '" + k + "'", v);
  for (const auto& p : phases) {
    check("phase '" + p.name + "' time", p.total_s);
    check("phase '" + p.name + "' declared items", p.work.items);
    check("phase '" + p.name + "' declared bytes", p.work.bytes);
    check("phase '" + p.name + "' declared flops", p.work.flops);
  }
  return out;
}

namespace {

struct RunInterrupted {
  int signal;
};

// After every step: a signal asks the run to stop (the step in progress has
// finished), and a dead or unreachable service ends it.
void throw_if_stopped(const CouplingEnv* env) {
  if (const int sig = interrupted_signal()) throw RunInterrupted{sig};
  if (env != nullptr && env->watcher)
    if (auto why = env->watcher->failure()) throw std::runtime_error(*why);
}

// A repetition's samples at rank 0: the per-repetition summaries, and the run's
// totals per channel and per rank.
void collect_repetition_latency(RunContextImpl& ctx, RepetitionResult& rep, const RunRequest& req, bool collective,
                                std::vector<Samples>& all_by_rank) {
  Samples mine = ctx.take_latencies();
  std::vector<Samples> by_rank = collective ? gather_by_rank(mine, req.rank, req.nranks) : std::vector<Samples>{mine};
  if (req.rank != 0) return;
  if (all_by_rank.size() < by_rank.size()) all_by_rank.resize(by_rank.size());
  for (std::size_t r = 0; r < by_rank.size(); ++r)
    for (const auto& [k, v] : by_rank[r]) all_by_rank[r][k].insert(all_by_rank[r][k].end(), v.begin(), v.end());
  for (auto& [k, v] : merge_ranks(by_rank)) rep.latency[k] = summarize_latency(std::move(v));
}

}  // namespace

RunResult run_motif(const RunRequest& req, const Config& config, CouplingEnv* env) {
  RunResult res = begin_result(req, config);
  if (env != nullptr) {
    res.services = env->service_info;
    res.services.insert(res.services.end(), env->other_nodes.begin(), env->other_nodes.end());
    res.server_endpoints.clear();
    for (const auto& s : res.services)
      if (s.kind == "inference_server") res.server_endpoints.push_back(s.endpoint);
    res.placements = env->placements;
    if (env->store) res.staging_store = env->store->describe();
    const bool remote = env->mode == Coupling::SemiTight || env->mode == Coupling::Loose;
    res.tensor_transport = !remote ? "in_process" : env->remote.shared_memory ? "system_shared_memory" : "request_bytes";
  }
  res.stream_copy_start_bytes_per_s = measure_stream_copy_bytes_per_s();
  res.stream_copy_bytes_per_s = res.stream_copy_start_bytes_per_s;
  // Harness overhead, measured directly on the null work (with vs without the
  // per-step machinery), and the old event model as a cross-check.
  const MeasuredOverhead measured = measure_harness_overhead(7, 400, 1024);
  res.overhead.null_without_ns_per_step = measured.without_ns_per_step;
  res.overhead.null_with_ns_per_step = measured.with_ns_per_step;
  res.overhead.null_per_step_ns = measured.per_step_ns;
  res.overhead.null_events_per_step = measured.events_per_step;
  res.overhead.null_rounds = measured.rounds;
  res.overhead.null_steps_per_round = measured.steps_per_round;
  res.overhead.per_event_ns = std::max(0.0, measured.per_event_ns);
  res.overhead.model_per_event_ns = calibrate_event_cost_ns();

  std::string counters_why;
  auto counters = make_hardware_counters(config.get_string("counters.source"), &counters_why);
  if (counters) {
    res.counters_status = "measured";
    res.counter_names = counters->names();
  } else {
    res.counters_status = "unavailable: " + counters_why;
  }

  const int reps = static_cast<int>(config.get_int("run.repetitions"));
  const double min_time = config.get_real("run.min_time_s");
  const auto min_iter = config.get_int("run.min_iterations");
  const auto max_iter = config.get_int("run.max_iterations");
  const double warm_time = config.get_real("run.warmup_s");
  const auto warm_iter = config.get_int("run.warmup_iterations");
  const double w_core = config.get_real("energy.watts_per_core"), w_idle = config.get_real("energy.idle_watts");

  std::vector<Samples> all_by_rank;
  const std::vector<int> allowed = allowed_cpus();
  StepCpus step_cpus;  // the CPU each measured step ended on
  // Where the servers on this host computed the measured steps' remote calls.
  StepCpus server_cpus;
  const std::shared_ptr<ServerCpus> server_tally = env != nullptr ? env->remote.server_cpus : nullptr;
  const std::string host = local_node_names().host;
  for (int r = 0; r < reps; ++r) {
    RepetitionResult rep;
    rep.index = r;
    // Ranks get distinct streams; rank 0 of repetition r uses repetition_seed(base, r).
    rep.seed = repetition_seed(res.base_seed + 1000003ULL * static_cast<std::uint64_t>(req.rank), r);
    RunContextImpl ctx(config, req.coupling, rep.seed, req.rank, req.nranks, env);
    StepCpus server_before;  // the tally when the measured steps began
    auto count_server_cpus = [&] {
      if (server_tally) server_cpus.add_since(server_before, server_tally->snapshot());
    };
    ctx.set_counters(counters.get());
    auto energy = make_energy_meter(config.get_string("energy.source"), w_core, w_idle,
                                    config.get_string("energy.powercap_root"), config.get_string("energy.cray_root"));
    std::unique_ptr<EnergyMeter> gpu_energy;
    std::string gpu_why = "switched off (energy.gpu_source=none)";
    if (config.get_string("energy.gpu_source") != "none")
      gpu_energy = make_nvml_meter(config.get_string("energy.nvml_library"), &gpu_why);
    ComponentSampler components;
    std::unique_ptr<Motif> motif;
    std::int64_t t0 = 0;
    auto stop_energy = [&](bool collective) {
      const double wall_s = t0 > 0 ? seconds_since(t0) : 0.0;
      rep.energy = energy->stop();
      rep.components = components.end(req.nranks, collective);
      if (rep.energy.method == EnergyMethod::Estimated)
        rep.energy = estimate_energy(rep.components, wall_s, w_core, w_idle, rep.energy.fallback_reason);
      if (gpu_energy) {
        rep.gpu_energy = gpu_energy->stop();
      } else {
        rep.gpu_energy.source = "nvml";
        rep.gpu_energy.detail = gpu_why;
      }
    };
    try {
      motif = req.motif->create();
      auto t_setup = now_ns();
      motif->setup(ctx);
      rep.setup_s = seconds_since(t_setup);
      throw_if_stopped(env);

      auto t_warm = now_ns();
      std::int64_t w = 0;
      for (;;) {
        const bool warm = (w >= warm_iter && seconds_since(t_warm) >= warm_time) || motif->done();
        if (any_rank(warm, req.nranks)) break;
        ctx.set_step(-1 - w, true);
        motif->step(ctx);
        ++w;
        throw_if_stopped(env);
      }
      rep.warmup_s = seconds_since(t_warm);
      rep.warmup_iterations = w;
      ctx.reset_measurements();

      fence_and_barrier(req.nranks);
      components.begin(env, req.rank);
      energy->start();
      if (gpu_energy) gpu_energy->start();
      if (server_tally) server_before = server_tally->snapshot();
      t0 = now_ns();
      auto last_poll = t0;
      std::int64_t i = 0;
      for (;;) {
        ctx.set_step(i, false);
        const auto t_step = now_ns();
        motif->step(ctx);
        Kokkos::fence();
        const auto t = now_ns();
        ctx.record_latency_ns("step", static_cast<double>(t - t_step));
        step_cpus.add(sched_getcpu());
        ++i;
        ctx.count_event();  // the loop's own clock read and checks
        if (t - last_poll > 1'000'000'000) {
          energy->poll();
          if (gpu_energy) gpu_energy->poll();
          components.poll();
          last_poll = t;
        }
        double elapsed = (t - t0) * 1e-9;
        throw_if_stopped(env);
        if (any_rank(motif->done() || (max_iter > 0 && i >= max_iter) || (elapsed >= min_time && i >= min_iter),
                     req.nranks))
          break;
      }
      fence_and_barrier(req.nranks);
      rep.measured_s = seconds_since(t0);
      rep.iterations = i;
      count_server_cpus();
      stop_energy(true);
      rep.phases = ctx.phase_totals();
      rep.harness_events = ctx.events();
      motif->finish(ctx);
    } catch (const RunInterrupted& stop) {
      // The repetition in progress is incomplete: only finished ones count.
      res.valid = false;
      res.interrupted_signal = stop.signal;
      res.invalid_reasons.push_back("interrupted by signal " + std::to_string(stop.signal) + " (" +
                                    strsignal(stop.signal) + ") during repetition " + std::to_string(r) + "; " +
                                    std::to_string(r) + " repetition(s) completed");
      if (t0 > 0) {
        energy->stop();
        if (gpu_energy) gpu_energy->stop();
      }
      break;
    } catch (const std::exception& e) {
      res.valid = false;
      res.invalid_reasons.push_back("repetition " + std::to_string(r) + ": " + e.what());
      // Ranks may have diverged: nothing collective from here on.
      stop_energy(false);
      // Failed in setup or warm-up: nothing of it was measured (its time,
      // steps and energy would read as a measured zero), so it does not count.
      if (t0 == 0) break;
      count_server_cpus();
      rep.measured_s = seconds_since(t0);
      rep.phases = ctx.phase_totals();
      rep.metrics = ctx.metrics();
      collect_repetition_latency(ctx, rep, req, false, all_by_rank);
      res.reps.push_back(std::move(rep));
      break;  // a failed component ends the run promptly
    }
    rep.metrics = ctx.metrics();
    for (const auto& why : non_finite_figures(rep.metrics, rep.phases)) {
      res.valid = false;
      res.invalid_reasons.push_back("repetition " + std::to_string(r) + ": " + why);
    }
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
    // Per-repetition summaries over every rank give compare its samples for a rank test.
    collect_repetition_latency(ctx, rep, req, true, all_by_rank);
    // Where every rank's steps ran so far, at rank 0 (collective, as the line
    // above: where ranks that completed the repetition meet anyway).
    res.cpu_placement.clear();
    for (const auto& text : gather_text(placement_text(host, allowed, step_cpus, server_cpus)))
      res.cpu_placement.push_back(parse_placement_text(text));
    if (!req.quiet && req.rank == 0)
      std::fprintf(stderr, "motifbench: %s/%s/%s repetition %d/%d: %lld steps in %.3f s\n", res.motif.c_str(),
                   res.coupling.c_str(), res.size.c_str(), r + 1, reps, static_cast<long long>(rep.iterations),
                   rep.measured_s);
    res.reps.push_back(std::move(rep));
  }

  // The copy again after the repetitions: a shared node's bandwidth moves
  // with its neighbours, and one figure taken before the run can be a low one.
  if (!res.reps.empty()) {
    res.stream_copy_end_bytes_per_s = measure_stream_copy_bytes_per_s();
    res.stream_copy_bytes_per_s = std::max(res.stream_copy_start_bytes_per_s, res.stream_copy_end_bytes_per_s);
  }

  // Figures.
  std::vector<double> measured_v, ips, energy_j, gpu_j;
  std::uint64_t events = 0;
  double measured_total = 0;
  for (const auto& rep : res.reps) {
    measured_v.push_back(rep.measured_s);
    if (rep.measured_s > 0) ips.push_back(rep.iterations / rep.measured_s);
    if (rep.energy.energy_j) energy_j.push_back(*rep.energy.energy_j);
    if (rep.gpu_energy.energy_j) gpu_j.push_back(*rep.gpu_energy.energy_j);
    events += rep.harness_events;
    measured_total += rep.measured_s;
  }
  res.measured_s = summarize_reps(measured_v);
  res.iterations_per_s = summarize_reps(ips);
  if (!res.reps.empty()) {
    const auto& e = res.reps.front().energy;
    res.energy_source = e.source;
    res.energy_method = to_string(e.method);
    res.energy_detail = e.detail;
    res.energy_scope = e.scope;
    for (const auto& rep : res.reps)
      if (rep.energy.scope.rfind("partial", 0) == 0) res.energy_scope = rep.energy.scope;
    if (e.scope == "node" && req.nranks > 1)
      res.energy_scope = "partial: a node counter read by rank 0 covers rank 0's node only";
    res.energy_available = energy_j.size() == res.reps.size();
    if (res.energy_available) res.energy_j = summarize_reps(energy_j);
    res.gpu_energy_available = !gpu_j.empty() && gpu_j.size() == res.reps.size();
    if (res.gpu_energy_available) res.gpu_energy_j = summarize_reps(gpu_j);
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
      ps.counters.assign(res.counter_names.size(), 0.0);
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
        for (std::size_t c = 0; c < t.counters.size() && c < ps.counters.size(); ++c) ps.counters[c] += t.counters[c];
      }
      ps.total_s = summarize_reps(totals);
      ps.share_fraction = res.measured_s.mean > 0 ? ps.total_s.mean / res.measured_s.mean : 0.0;
      if (sum_s > 0) {
        const auto rate = [&](double work) { return work > 0 ? std::optional<double>(work / sum_s) : std::nullopt; };
        ps.items_per_s = rate(ps.work.items);
        ps.bytes_per_s = rate(ps.work.bytes);
        ps.flops_per_s = rate(ps.work.flops);
        ps.bytes_sent_per_s = rate(ps.work.bytes_sent);
        if (ps.bytes_per_s && res.stream_copy_bytes_per_s > 0)
          ps.stream_fraction = *ps.bytes_per_s / res.stream_copy_bytes_per_s;
      }
      res.phases.push_back(ps);
    }
  }

  // A run that failed in its first repetition: this rank's own.
  if (res.cpu_placement.empty())
    res.cpu_placement.push_back(parse_placement_text(placement_text(host, allowed, step_cpus, server_cpus)));
  if (req.rank != 0) return res;
  std::string few;
  for (auto& [name, samples] : merge_ranks(all_by_rank)) {
    ChannelSummary c;
    c.name = name;
    for (double v : samples) c.histogram.add(v);
    c.latency = summarize_latency(std::move(samples));
    bool first = true;
    c.ranks_count = 0;
    for (const auto& by_rank : all_by_rank) {
      auto it = by_rank.find(name);
      if (it == by_rank.end() || it->second.empty()) continue;
      const auto own = summarize_latency(it->second);
      ++c.ranks_count;
      c.rank_p50_min_ns = first ? own.p50_ns : std::min(c.rank_p50_min_ns, own.p50_ns);
      c.rank_p50_max_ns = first ? own.p50_ns : std::max(c.rank_p50_max_ns, own.p50_ns);
      c.rank_p99_min_ns = first ? own.p99_ns : std::min(c.rank_p99_min_ns, own.p99_ns);
      c.rank_p99_max_ns = first ? own.p99_ns : std::max(c.rank_p99_max_ns, own.p99_ns);
      first = false;
    }
    if (c.latency.count < 1000) few += (few.empty() ? "" : ", ") + name + " (" + std::to_string(c.latency.count) + ")";
    res.channels.push_back(std::move(c));
  }
  if (!few.empty())
    res.warnings.push_back("p99.9 needs at least 1000 samples to differ from max; fewer in: " + few);
  return res;
}

}  // namespace motifbench::detail
