#include "report/console.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace motifbench::detail {
namespace {

std::string fmt_time_ns(double ns) {
  char buf[32];
  if (ns < 1e3)
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  else if (ns < 1e9)
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
  return buf;
}

std::string fmt_rate(std::optional<double> rate, const char* unit) {
  if (!rate) return "-";  // no work of that kind declared
  double v = *rate;
  char buf[32];
  const char* prefix[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  std::snprintf(buf, sizeof buf, "%.2f %s%s", v, prefix[i], unit);
  return buf;
}

}  // namespace

void print_console(std::FILE* out, const RunResult& r) {
  const auto& c = r.context;
  std::fprintf(out, "\nmotifbench %s  motif=%s  coupling=%s  size=%s  repetitions=%zu  ranks=%d\n",
               c.motifbench_version.c_str(), r.motif.c_str(), r.coupling.c_str(), r.size.c_str(), r.reps.size(),
               c.mpi_ranks);
  std::fprintf(out, "host %s | %s | %d cores | Kokkos %s (%s) | LibTorch %s (%d threads)\n", c.host.c_str(),
               c.cpu_model.c_str(), c.cores, c.kokkos_version.c_str(), c.kokkos_backend.c_str(),
               c.torch_version.c_str(), c.torch_threads);
  int embedded = 0, server_threads = 0;
  for (const auto& s : r.services)
    if (s.kind == "inference_server" && s.embedded) {
      ++embedded;
      server_threads = s.threads;
    }
  if (embedded > 0)
    std::fprintf(out, "inference servers: %d embedded, %d LibTorch thread%s each\n", embedded, server_threads,
                 server_threads == 1 ? "" : "s");
  if (c.cpu_idle.wakeup_limit.requested_us >= 0)
    std::fprintf(out, "idle CPUs (%s): wake-up latency limit %s\n", c.cpu_idle.driver.c_str(),
                 c.cpu_idle.wakeup_limit.detail.c_str());
  if (r.measured_s.count == 0)
    std::fprintf(out, "measured: nothing (no repetition completed)\n\n");
  else
    std::fprintf(out, "measured %.3f s +- %.3f s per repetition, %.2f steps/s\n\n", r.measured_s.mean,
                 r.measured_s.stddev, r.iterations_per_s.mean);

  const bool any_phase = std::any_of(r.phases.begin(), r.phases.end(), [](const auto& p) { return p.count > 0; });
  if (any_phase)
    std::fprintf(out, "%-13s %11s %7s %8s %14s %14s %14s %8s\n", "phase", "time/rep", "share", "calls", "items/s",
                 "bytes/s", "flop/s", "%stream");
  for (const auto& p : r.phases) {
    if (p.count == 0) continue;  // registered but unused in this mode
    char stream[16] = "-";
    if (p.stream_fraction) std::snprintf(stream, sizeof stream, "%.1f%%", 100 * *p.stream_fraction);
    std::fprintf(out, "%-13s %9.4f s %6.1f%% %8llu %14s %14s %14s %8s\n", p.name.c_str(), p.total_s.mean,
                 100 * p.share_fraction, static_cast<unsigned long long>(p.count), fmt_rate(p.items_per_s, "").c_str(),
                 fmt_rate(p.bytes_per_s, "B").c_str(), fmt_rate(p.flops_per_s, "").c_str(), stream);
  }
  if (!r.channels.empty()) {
    std::fprintf(out, "\n%-20s %8s %10s %10s %10s %10s %10s %10s %10s\n", "latency", "count", "p50", "p90", "p95", "p99",
                 "p99.9", "max", "mean");
    for (const auto& ch : r.channels) {
      const auto& l = ch.latency;
      std::fprintf(out, "%-20s %8llu %10s %10s %10s %10s %10s %10s %10s\n", ch.name.c_str(),
                   static_cast<unsigned long long>(l.count), fmt_time_ns(l.p50_ns).c_str(),
                   fmt_time_ns(l.p90_ns).c_str(), fmt_time_ns(l.p95_ns).c_str(), fmt_time_ns(l.p99_ns).c_str(),
                   fmt_time_ns(l.p999_ns).c_str(), fmt_time_ns(l.max_ns).c_str(), fmt_time_ns(l.mean_ns).c_str());
    }
  }
  if (!r.reps.empty()) {
    const auto& m = r.reps.back().metrics;
    if (!m.scalars().empty()) {
      std::fprintf(out, "\nmotif metrics (last repetition)\n");
      for (const auto& [k, v] : m.scalars()) std::fprintf(out, "  %-40s %g\n", k.c_str(), v);
    }
    std::size_t shown = 0;
    for (const auto& [kind, fields] : m.events()) {
      if (shown++ == 0) std::fprintf(out, "\nevents (last repetition)\n");
      if (shown > 10) {
        std::fprintf(out, "  ... %zu more\n", m.events().size() - 10);
        break;
      }
      std::fprintf(out, "  %-10s", kind.c_str());
      for (const auto& [k, v] : fields) std::fprintf(out, " %s=%g", k.c_str(), v);
      std::fprintf(out, "\n");
    }
  }
  std::fprintf(out, "\nenergy: ");
  if (r.energy_available)
    std::fprintf(out, "%.2f J +- %.2f J per repetition [%s, %s; scope %s]\n", r.energy_j.mean, r.energy_j.stddev,
                 r.energy_method.c_str(), r.energy_source.c_str(), r.energy_scope.c_str());
  else
    std::fprintf(out, "unavailable (%s)\n", r.energy_detail.c_str());
  if (!r.reps.empty()) {
    const auto& rep = r.reps.back();
    for (const auto& comp : rep.components) {
      if (!comp.visible) {
        std::fprintf(out, "  %-22s not visible (%s)\n", comp.name.c_str(), comp.where.c_str());
        continue;
      }
      auto d = rep.energy.domains_j.find(comp.name);
      std::fprintf(out, "  %-22s %8.3f CPU-s", comp.name.c_str(), comp.cpu_s);
      if (d != rep.energy.domains_j.end()) std::fprintf(out, "  %8.2f J (estimate)", d->second);
      std::fprintf(out, "\n");
    }
    if (r.gpu_energy_available)
      std::fprintf(out, "gpu energy: %.2f J per repetition [measured, nvml]\n", r.gpu_energy_j.mean);
  }
  std::fprintf(out, "counters: %s\n", r.counters_status.c_str());
  if (r.stream_copy_bytes_per_s > 0)
    std::fprintf(out, "STREAM copy: %s (before %s, after %s)", fmt_rate(r.stream_copy_bytes_per_s, "B/s").c_str(),
                 fmt_rate(r.stream_copy_start_bytes_per_s, "B/s").c_str(),
                 r.stream_copy_end_bytes_per_s > 0 ? fmt_rate(r.stream_copy_end_bytes_per_s, "B/s").c_str() : "-");
  else
    std::fprintf(out, "STREAM copy: not measured");
  if (r.overhead.null_rounds > 0 && r.measured_s.count == 0)
    std::fprintf(out, " | harness overhead: %.0f ns per event measured; the run's share not measured\n",
                 r.overhead.per_event_ns);
  else if (r.overhead.null_rounds > 0)
    std::fprintf(out, " | harness overhead: %.3f%% (%llu events x %.0f ns measured; model %.0f ns)\n",
                 100 * r.overhead.fraction, static_cast<unsigned long long>(r.overhead.events),
                 r.overhead.per_event_ns, r.overhead.model_per_event_ns);
  else
    std::fprintf(out, " | harness overhead: not measured\n");
  // Where the steps ran: the first ranks, their CPUs by share of the steps.
  constexpr std::size_t kRanksShown = 4;
  // "1 (80%), 0 (20%)": CPUs by their share of the counts, the first few.
  auto shares = [](const std::vector<std::pair<int, std::int64_t>>& counts) {
    std::int64_t total = 0;
    for (const auto& c : counts) total += c.second;
    std::string where;
    for (const auto& [cpu, n] : counts) {
      if (where.size() > 60) {
        where += ", ...";
        break;
      }
      char part[48];
      std::snprintf(part, sizeof part, "%s%d (%.0f%%)", where.empty() ? "" : ", ", cpu,
                    100.0 * n / std::max<std::int64_t>(1, total));
      where += part;
    }
    return where;
  };
  for (std::size_t rank = 0; rank < r.cpu_placement.size() && rank < kRanksShown; ++rank) {
    const auto& p = r.cpu_placement[rank];
    const std::string steps = shares(p.step_cpus), servers = shares(p.server_cpus);
    std::fprintf(out, "placement: rank %zu on %s, CPUs %s; steps on CPU %s%s%s\n", rank, p.host.c_str(),
                 p.allowed.c_str(), steps.empty() ? "none measured" : steps.c_str(),
                 servers.empty() ? "" : "; server compute on CPU ", servers.c_str());
  }
  if (r.cpu_placement.size() > kRanksShown)
    std::fprintf(out, "placement: %zu more ranks in the result (context.cpu_placement)\n",
                 r.cpu_placement.size() - kRanksShown);
  for (const auto& w : r.warnings) std::fprintf(out, "warning: %s\n", w.c_str());
  if (r.valid) {
    std::fprintf(out, "result: VALID\n");
  } else {
    std::fprintf(out, "result: INVALID\n");
    for (const auto& why : r.invalid_reasons) std::fprintf(out, "  reason: %s\n", why.c_str());
  }
}

}  // namespace motifbench::detail
