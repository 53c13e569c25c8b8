#include "report/json_result.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include "build_info.hpp"

namespace motifbench::detail {
namespace {

nlohmann::json rep_stats(const RepStats& s, const std::string& unit) {
  if (s.count == 0) return {{"samples_count", 0}};  // nothing was measured: no figures, not zeros
  return {{"mean" + unit, s.mean}, {"stddev" + unit, s.stddev}, {"min" + unit, s.min}, {"max" + unit, s.max},
          {"samples_count", s.count}};
}

// The harness's own cost; null figures when the run ended before it was
// measured (a coupling-setup failure), never zeros that look measured. With
// the per-event cost measured but no repetition measured (a failure in
// setup), the run's share is null and the per-event figures stay.
nlohmann::json harness_overhead_json(const HarnessOverhead& o, bool run_measured) {
  const char* kRunKeys[] = {"events_count", "overhead_s", "measured_with_harness_s", "measured_without_harness_s",
                            "overhead_fraction"};
  if (o.null_rounds == 0) {
    nlohmann::json j = {{"method", "not measured: the run ended before it started"}};
    j["per_event_ns"] = j["model_per_event_ns"] = nullptr;
    for (const char* k : kRunKeys) j[k] = nullptr;
    return j;
  }
  if (!run_measured) {
    nlohmann::json j = {{"per_event_ns", o.per_event_ns},
                        {"model_per_event_ns", o.model_per_event_ns},
                        {"method", "per event measured (the null motif with vs without the per-step machinery); "
                                   "the run's share not measured: no repetition was measured"}};
    for (const char* k : kRunKeys) j[k] = nullptr;
    return j;
  }
  return {{"per_event_ns", o.per_event_ns},
        {"model_per_event_ns", o.model_per_event_ns},
        {"null_motif",
         {{"without_harness_per_step_ns", o.null_without_ns_per_step},
          {"with_harness_per_step_ns", o.null_with_ns_per_step},
          {"overhead_per_step_ns", o.null_per_step_ns},
          {"events_per_step_count", o.null_events_per_step},
          {"rounds_count", o.null_rounds},
          {"steps_per_round_count", o.null_steps_per_round}}},
        {"events_count", o.events},
        {"overhead_s", o.overhead_s},
        {"measured_with_harness_s", o.measured_s},
        {"measured_without_harness_s", o.measured_s - o.overhead_s},
        {"overhead_fraction", o.fraction},
        {"method", "measured: the null motif's fixed work with vs without the per-step machinery, interleaved "
                   "(median of rounds), per event; x the events of this run's measured part. "
                   "model_per_event_ns is a tight loop of events, kept as a cross-check"}};
}

nlohmann::json or_null(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

nlohmann::json work_json(const Work& w) {
  return {{"items_count", w.items}, {"bytes", w.bytes}, {"flops", w.flops}, {"sent_bytes", w.bytes_sent}};
}

nlohmann::json latency_json(const ChannelSummary& c) {
  const auto& l = c.latency;
  nlohmann::json j = {{"count", l.count},     {"min_ns", l.min_ns}, {"mean_ns", l.mean_ns}, {"stddev_ns", l.stddev_ns},
                      {"p50_ns", l.p50_ns},   {"p90_ns", l.p90_ns}, {"p95_ns", l.p95_ns},   {"p99_ns", l.p99_ns},
                      {"p999_ns", l.p999_ns}, {"max_ns", l.max_ns}};
  // Sparse histogram: only non-empty buckets, as [bucket index, count] pairs.
  nlohmann::json buckets = nlohmann::json::array();
  const auto& counts = c.histogram.counts();
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (counts[i] != 0) buckets.push_back({i, counts[i]});
  j["histogram"] = {{"base_ns", c.histogram.base_ns()},
                    {"buckets_per_decade_count", c.histogram.buckets_per_decade()},
                    {"buckets", buckets}};
  j["per_rank"] = {{"ranks_count", c.ranks_count},
                   {"p50_min_ns", c.rank_p50_min_ns},
                   {"p50_max_ns", c.rank_p50_max_ns},
                   {"p99_min_ns", c.rank_p99_min_ns},
                   {"p99_max_ns", c.rank_p99_max_ns}};
  return j;
}

nlohmann::json energy_json(const EnergyReading& e) {
  nlohmann::json j = {{"source", e.source}, {"method", to_string(e.method)}, {"detail", e.detail}};
  if (!e.scope.empty()) j["scope"] = e.scope;
  j["energy_j"] = or_null(e.energy_j);
  if (!e.domains_j.empty()) {
    nlohmann::json d = nlohmann::json::object();
    for (const auto& [k, v] : e.domains_j) d[k] = {{"energy_j", v}};
    j["domains"] = d;
  }
  return j;
}

nlohmann::json components_json(const std::vector<ComponentCpu>& cs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : cs) {
    nlohmann::json e = {{"name", c.name}, {"visible", c.visible}, {"where", c.where}};
    e["pid_index"] = c.pid;
    e["cpu_s"] = c.visible ? nlohmann::json(c.cpu_s) : nlohmann::json(nullptr);
    out.push_back(e);
  }
  return out;
}

// Non-finite figures are left out (JSON has no NaN); the run is already
// invalid with each of them named (non_finite_figures).
nlohmann::json finite_only(const std::map<std::string, double>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m)
    if (std::isfinite(v)) j[k] = v;
  return j;
}

nlohmann::json metrics_json(const MotifMetrics& m) {
  nlohmann::json j = {{"scalars", finite_only(m.scalars())}, {"notes", m.notes()}};
  nlohmann::json series = nlohmann::json::object();
  for (const auto& [name, points] : m.series()) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : points) pts.push_back(finite_only(p));
    series[name] = pts;
  }
  j["series"] = series;
  nlohmann::json events = nlohmann::json::array();
  for (const auto& [kind, fields] : m.events()) events.push_back({{"kind", kind}, {"fields", finite_only(fields)}});
  j["events"] = events;
  return j;
}

}  // namespace

nlohmann::json to_json(const RunResult& r) {
  const auto& c = r.context;
  nlohmann::json j;
  j["schema_version"] = MOTIFBENCH_SCHEMA_VERSION;
  j["tool"] = {{"name", "motifbench"}, {"version", c.motifbench_version}};
  j["context"] = {
      {"host", c.host},
      {"cpu_model", c.cpu_model},
      {"cores_count", c.cores},
      {"memory_bytes", c.memory_bytes},
      {"os", c.os},
      {"compiler", c.compiler},
      {"compiler_flags", c.compiler_flags},
      {"build_type", c.build_type},
      {"kokkos", {{"version", c.kokkos_version}, {"backend", c.kokkos_backend}, {"concurrency_count", c.kokkos_concurrency},
                  {"backends", c.kokkos_backends}, {"architectures", c.kokkos_architectures},
                  {"memory_space", c.kokkos_memory_space}}},
      {"torch", {{"version", c.torch_version}, {"threads_count", c.torch_threads}, {"cuda", c.torch_cuda},
                 {"cuda_version", c.torch_cuda_version}, {"gpus_count", c.torch_gpus}, {"model_device", c.model_device}}},
      {"gpus", {{"models", c.gpus}, {"detail", c.gpus_detail}}},
      {"components", c.components},
      {"mpi", {{"library", c.mpi_library}, {"ranks_count", c.mpi_ranks}, {"init", c.mpi_init}}},
      {"git", {{"commit", c.git_commit}, {"dirty", c.git_dirty}, {"known", c.git_known}}},
      {"argv", c.argv},
      {"start_time_utc", c.start_time_utc},
      {"blas", {{"library", c.blas_library}, {"threads_count", c.blas_threads}}},
      {"threads", {{"run_count", c.run_threads},
                   {"ranks_on_node_count", c.ranks_on_node},
                   {"omp_wait_policy", c.environment.count("OMP_WAIT_POLICY") ? c.environment.at("OMP_WAIT_POLICY")
                                                                              : std::string("runtime default")},
                   {"openblas_thread_timeout", c.environment.count("OPENBLAS_THREAD_TIMEOUT")
                                                   ? c.environment.at("OPENBLAS_THREAD_TIMEOUT")
                                                   : std::string("library default")}}},
      {"environment", c.environment},
      {"load_average", {{"start_ratio", c.load_average_start}, {"end_ratio", c.load_average_end}}},
      {"cpu_governor", c.cpu_governor},
      {"optimised_build", c.optimised},
  };
  // Where each rank ran: the CPUs it may use, the CPU each measured step
  // ended on, and where the servers on its host computed its calls, most first.
  nlohmann::json placed = nlohmann::json::array();
  for (std::size_t rank = 0; rank < r.cpu_placement.size(); ++rank) {
    const auto& p = r.cpu_placement[rank];
    nlohmann::json steps = nlohmann::json::array(), servers = nlohmann::json::array();
    for (const auto& [cpu, n] : p.step_cpus) steps.push_back({{"cpu_index", cpu}, {"steps_count", n}});
    for (const auto& [cpu, n] : p.server_cpus) servers.push_back({{"cpu_index", cpu}, {"calls_count", n}});
    placed.push_back({{"rank_index", rank}, {"host", p.host}, {"allowed_cpus", p.allowed},
                      {"allowed_cpus_count", p.allowed_count}, {"step_cpus", steps}, {"server_cpus", servers}});
  }
  j["context"]["cpu_placement"] = placed;
  nlohmann::json idle_states = nlohmann::json::array();
  for (const auto& s : c.cpu_idle.states)
    idle_states.push_back({{"name", s.name},
                           {"exit_latency_us", s.exit_latency_us >= 0 ? nlohmann::json(s.exit_latency_us) : nullptr},
                           {"disabled", s.disabled}});
  const auto& limit = c.cpu_idle.wakeup_limit;
  j["context"]["cpu_idle"] = {
      {"driver", c.cpu_idle.driver},
      {"states", idle_states},
      {"wakeup_latency_limit",
       {{"requested_us", limit.requested_us >= 0 ? nlohmann::json(limit.requested_us) : nullptr},
        {"held", limit.held},
        {"effective", limit.effective},
        {"detail", limit.detail}}}};
  j["run"] = {{"motif", r.motif},
              {"coupling", r.coupling},
              {"size", r.size},
              {"config_requested", r.config_requested},
              {"config_requested_source", r.config_requested_source},
              {"config_effective", r.config_effective},
              {"config_hash", r.config_hash},
              {"base_seed", r.base_seed}};
  j["valid"] = r.valid;
  j["invalid_reasons"] = r.invalid_reasons;
  j["warnings"] = r.warnings;

  nlohmann::json reps = nlohmann::json::array();
  for (const auto& rep : r.reps) {
    nlohmann::json phases = nlohmann::json::object();
    for (const auto& p : rep.phases)
      if (p.count > 0) phases[p.name] = {{"total_s", p.total_s}, {"calls_count", p.count}, {"work", work_json(p.work)}};
    nlohmann::json rep_latency = nlohmann::json::object();
    for (const auto& [name, l] : rep.latency)
      rep_latency[name] = {{"count", l.count}, {"mean_ns", l.mean_ns}, {"p50_ns", l.p50_ns},
                           {"p90_ns", l.p90_ns}, {"p99_ns", l.p99_ns}, {"max_ns", l.max_ns}};
    reps.push_back({{"index", rep.index},
                    {"seed", rep.seed},
                    {"setup_s", rep.setup_s},
                    {"warmup_s", rep.warmup_s},
                    {"warmup_iterations_count", rep.warmup_iterations},
                    {"measured_s", rep.measured_s},
                    {"iterations_count", rep.iterations},
                    {"iterations_per_s", rep.measured_s > 0 ? rep.iterations / rep.measured_s : 0.0},
                    {"phases", phases},
                    {"energy", energy_json(rep.energy)},
                    {"gpu_energy", energy_json(rep.gpu_energy)},
                    {"components", components_json(rep.components)},
                    {"latency", rep_latency},
                    {"motif_metrics", metrics_json(rep.metrics)}});
  }
  j["repetitions"] = reps;

  nlohmann::json phases = nlohmann::json::object();
  for (const auto& p : r.phases) {
    if (p.count == 0) continue;  // registered but unused in this mode
    nlohmann::json counters = nlohmann::json::object();
    for (std::size_t c = 0; c < p.counters.size() && c < r.counter_names.size(); ++c)
      counters[r.counter_names[c] + "_count"] = p.counters[c];
    phases[p.name] = {{"counters", counters},
                      {"total_s", rep_stats(p.total_s, "_s")},
                      {"share_fraction", p.share_fraction},
                      {"calls_count", p.count},
                      {"work", work_json(p.work)},
                      {"throughput",
                       {{"items_per_s", or_null(p.items_per_s)},
                        {"bytes_per_s", or_null(p.bytes_per_s)},
                        {"flops_per_s", or_null(p.flops_per_s)},
                        {"sent_bytes_per_s", or_null(p.bytes_sent_per_s)},
                        {"stream_copy_fraction", or_null(p.stream_fraction)}}}};
  }
  nlohmann::json latency = nlohmann::json::object();
  for (const auto& ch : r.channels) latency[ch.name] = latency_json(ch);
  nlohmann::json energy = {{"source", r.energy_source}, {"method", r.energy_method}, {"detail", r.energy_detail},
                            {"scope", r.energy_scope},
                            {"complete", r.energy_available && r.energy_scope.rfind("partial", 0) != 0}};
  if (!r.reps.empty()) {
    // Per component of the run, mean over repetitions: CPU seconds, and the
    // estimate's joules where the estimate is the source.
    nlohmann::json comps = nlohmann::json::object();
    for (const auto& c0 : r.reps.front().components) {
      std::vector<double> cpu, joules;
      bool visible = true;
      for (const auto& rep : r.reps)
        for (const auto& c : rep.components)
          if (c.name == c0.name) {
            visible = visible && c.visible;
            cpu.push_back(c.cpu_s);
            auto d = rep.energy.domains_j.find(c.name);
            if (d != rep.energy.domains_j.end()) joules.push_back(d->second);
          }
      nlohmann::json e = {{"visible", visible}, {"where", c0.where}};
      e["cpu_s"] = visible ? nlohmann::json(summarize_reps(cpu).mean) : nlohmann::json(nullptr);
      e["energy_j"] = visible && joules.size() == cpu.size() && !joules.empty()
                          ? nlohmann::json(summarize_reps(joules).mean)
                          : nlohmann::json(nullptr);
      comps[c0.name] = e;
    }
    energy["components"] = comps;
  }
  if (r.energy_available) {
    energy["energy_j"] = rep_stats(r.energy_j, "_j");
    energy["mean_power_w"] = r.measured_s.mean > 0 ? r.energy_j.mean / r.measured_s.mean : 0.0;
  } else {
    energy["energy_j"] = nullptr;
    energy["mean_power_w"] = nullptr;
  }
  nlohmann::json gpu = {{"source", "nvml"}};
  if (!r.reps.empty()) {
    const auto& g = r.reps.front().gpu_energy;
    gpu["method"] = to_string(g.method);
    gpu["detail"] = g.detail;
  } else {
    gpu["method"] = "unavailable";
    gpu["detail"] = "the run did not start";
  }
  gpu["energy_j"] = r.gpu_energy_available ? rep_stats(r.gpu_energy_j, "_j") : nlohmann::json(nullptr);
  energy["gpu"] = gpu;
  nlohmann::json counters = {{"status", r.counters_status}, {"names", r.counter_names}};
  if (!r.counter_names.empty()) counters["scope"] = "the main thread of each rank, at the outer edges of each phase";
  j["summary"] = {
      {"measured_s", rep_stats(r.measured_s, "_s")},
      {"iterations_per_s", rep_stats(r.iterations_per_s, "_per_s")},
      {"phases", phases},
      {"latency", latency},
      {"energy", energy},
      {"counters", counters},
      {"harness_overhead", harness_overhead_json(r.overhead, r.measured_s.count > 0)},
  };
  // 0 is "not measured" (a copy never takes no time).
  const auto measured = [](double v) { return v > 0 ? std::optional<double>(v) : std::nullopt; };
  j["roofline"] = {{"stream_copy_bytes_per_s", or_null(measured(r.stream_copy_bytes_per_s))},
                   {"stream_copy_start_bytes_per_s", or_null(measured(r.stream_copy_start_bytes_per_s))},
                   {"stream_copy_end_bytes_per_s", or_null(measured(r.stream_copy_end_bytes_per_s))},
                   {"method", r.stream_copy_bytes_per_s > 0
                                  ? "Kokkos copy of two 64 MiB double arrays, bytes read + written, best of 5 before "
                                    "the repetitions and best of 5 after them; the larger is the figure each "
                                    "stream_copy_fraction uses"
                                  : "not measured: the run ended before it started"}};
  j["percentile_method"] = "nearest-rank on raw samples: smallest sample with at least p% of samples <= it";
  nlohmann::json services = nlohmann::json::array();
  for (const auto& s : r.services) {
    nlohmann::json e = {{"kind", s.kind}, {"endpoint", s.endpoint}, {"version", s.version}, {"embedded", s.embedded}};
    if (!s.node.empty()) e["node"] = s.node;
    if (s.threads > 0) e["threads_count"] = s.threads;
    services.push_back(e);
  }
  j["services"] = services;
  // Which servers each rank uses (it shards over them, starting at the one
  // its rank on the node selects), and on which node and host it runs.
  nlohmann::json mapping = nlohmann::json::array();
  for (std::size_t rank = 0; rank < r.placements.size(); ++rank) {
    const auto& p = r.placements[rank];
    if (p.endpoints.empty()) continue;
    mapping.push_back({{"rank_index", rank}, {"node", p.node}, {"host", p.host}, {"endpoints", p.endpoints},
                       {"first_endpoint", p.first_endpoint}});
  }
  j["coupling"] = {{"mode", r.coupling},
                   {"staging_store", r.staging_store},
                   {"server_endpoints", r.server_endpoints},
                   {"servers_count", r.server_endpoints.size()},
                   {"ranks_count", c.mpi_ranks},
                   {"rank_to_server", mapping}};
  if (!r.tensor_transport.empty()) j["coupling"]["tensor_transport"] = r.tensor_transport;  // absent before setup
  return j;
}

std::string check_writable(const std::string& path) {
  // A result only ever replaces a regular file or creates a new one: never a
  // directory, a device node (as root, --out=/dev/null would replace the
  // system's), a FIFO or a symbolic link.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) return "--out '" + path + "' is a symbolic link; give a regular file or a new path";
    if (S_ISDIR(st.st_mode)) return "--out '" + path + "' is a directory; give a file path inside it";
    if (!S_ISREG(st.st_mode))
      return "--out '" + path + "' exists and is not a regular file (a device, FIFO or socket); give a new path";
  }
  // Probe the folder with a file of an unpredictable name (O_EXCL).
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string probe = dir + "/.motifbench-probe-XXXXXX";
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) return "cannot write --out '" + path + "': " + std::strerror(errno);
  ::close(fd);
  ::unlink(probe.c_str());
  return "";
}

std::string write_json_file(const std::string& path, const nlohmann::json& j) {
  if (std::string why = check_writable(path); !why.empty()) return why;
  // A temporary file of an unpredictable name beside the target (O_EXCL, 0644),
  // then an atomic rename: a crash never leaves a half-written result.
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return "cannot write '" + path + "': " + std::strerror(errno);
  ::fchmod(fd, 0644);
  const std::string text = j.dump(2) + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return "write to '" + tmp + "' failed: " + err;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return "write to '" + tmp + "' failed";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot rename '" + tmp + "' to '" + path + "': " + err;
  }
  return "";
}

}  // namespace motifbench::detail
