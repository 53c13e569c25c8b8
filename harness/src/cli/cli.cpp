#include "cli/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include "build_info.hpp"
#include "cli/usage_error.hpp"
#include "core/cpu_idle.hpp"
#include "core/cpu_placement.hpp"
#include "core/harness_config.hpp"
#include "core/mpi_session.hpp"
#include "core/plugins.hpp"
#include "core/null_motif.hpp"
#include "core/runner.hpp"
#include "core/run_context_impl.hpp"
#include "coupling/components.hpp"
#include "motifbench/energy.hpp"
#include "coupling/environment.hpp"
#include "motifbench/surrogates/server.hpp"
#include "motifbench/registry.hpp"
#include "motifbench/surrogates/local.hpp"
#include "report/console.hpp"
#include "report/json_result.hpp"
#include "tools/compare.hpp"
#include "tools/sweep.hpp"
#include "tools/validate.hpp"

namespace motifbench::detail {
namespace {

// How MPI was (or was not) started, for the result's context.
std::string g_mpi_reason;

constexpr int kExitInvalid = 1;

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string coupling_list(const std::vector<Coupling>& cs) {
  std::vector<std::string> names;
  for (Coupling c : cs) names.push_back(to_string(c));
  return join(names);
}

// The optional components of this build, one line each.
std::string components_text() {
  std::string out = "components of this build:\n";
  for (const auto& c : build_components())
    out += std::string("  ") + c.name + std::string(7 - std::string(c.name).size(), ' ') + (c.built ? "yes  " : "no   ") +
           c.enables + "\n";
  return out;
}

void print_list(const Registry& reg) {
  std::printf("motifs (%zu):\n", reg.motifs().size());
  for (const auto& m : reg.motifs()) {
    std::printf("  %-24s %s\n", m.name.c_str(), m.summary.c_str());
    std::printf("  %-24s couplings: %s | sizes: %s\n", "", coupling_list(m.couplings).c_str(), join(size_names()).c_str());
  }
  std::printf("\ncoupling modes: tight (in process), semi-tight (server on the node), loose (remote service), "
              "none (AI off: the baseline)\n");
  std::printf("\n%s", components_text().c_str());
}

struct Options {
  std::string motif, coupling = "tight", size = "small", config_file, out, servers, redis;
  std::vector<std::string> sets, plugins;
  // Numeric flags stay text here: the config parses them, one way for flags,
  // --set and files, and the result echoes exactly what was given.
  std::optional<std::string> repetitions, seed, threads, min_time_s, warmup_s;
  bool list = false, quiet = false, version = false, show_config = false;
};

ConfigSchema schema_for(const MotifInfo& m) {
  ConfigSchema s;
  declare_harness_config(s);
  if (m.declare_config) m.declare_config(s);
  return s;
}

void print_config_help(const Config& cfg) {
  for (const auto& k : cfg.schema().keys()) {
    std::string range;
    if (k.type == ValueType::Choice) range = " {" + join(k.choices) + "}";
    std::printf("  %-32s = %-14s %s%s\n", k.key.c_str(), value_to_text(cfg.value(k.key)).c_str(), k.help.c_str(),
                range.c_str());
  }
}

void init_kokkos(int threads) {
#if KOKKOS_VERSION >= 30700
  Kokkos::InitializationSettings s;
  if (threads > 0) s.set_num_threads(threads);
  Kokkos::initialize(s);
#else
  Kokkos::InitArguments a;
  if (threads > 0) a.num_threads = threads;
  Kokkos::initialize(a);
#endif
}

int run(const Options& o, const std::vector<std::string>& argv, int rank, int nranks) {
  Registry reg;
  register_all_motifs(reg);
  register_null_motif(reg);
  if (const std::string why = load_plugins(plugin_paths(o.plugins), reg); !why.empty()) {
    if (rank == 0) std::fprintf(stderr, "motifbench: error: %s\n", why.c_str());
    return kExitUsage;
  }
  if (o.list) {
    if (rank == 0) print_list(reg);
    return 0;
  }
  auto fail = [&](const std::string& msg) {
    if (rank == 0) std::fprintf(stderr, "motifbench: error: %s\n", msg.c_str());
    return kExitUsage;
  };
  if (o.motif.empty()) return fail("--motif is required; valid motifs: " + reg.name_list() + " (see --list)");
  const MotifInfo* info = reg.find(o.motif);
  if (info == nullptr) return fail("unknown motif '" + o.motif + "'; valid motifs: " + reg.name_list());
  auto coupling = parse_coupling(o.coupling);
  if (!coupling) return fail("unknown coupling '" + o.coupling + "'; valid couplings: " + coupling_list(all_couplings()));
  bool supported = false;
  for (Coupling c : info->couplings) supported = supported || c == *coupling;
  if (!supported)
    return fail("motif '" + info->name + "' does not support coupling '" + o.coupling +
                "' in this build; valid couplings for it: " + coupling_list(info->couplings));
  auto size_it = info->sizes.find(o.size);
  if (size_it == info->sizes.end()) return fail("unknown size '" + o.size + "'; valid sizes: " + join(size_names()));

  Config cfg(schema_for(*info));
  try {
    for (const auto& [k, v] : size_it->second) cfg.set(k, v, ConfigSource::Size);
    if (!o.config_file.empty()) cfg.load_file(o.config_file);
    for (const auto& s : o.sets) cfg.set_assignment(s, ConfigSource::Cli);
    if (o.repetitions) cfg.set("run.repetitions", *o.repetitions, ConfigSource::Cli);
    if (o.seed) cfg.set("run.seed", *o.seed, ConfigSource::Cli);
    if (o.threads) cfg.set("run.threads", *o.threads, ConfigSource::Cli);
    if (o.min_time_s) cfg.set("run.min_time_s", *o.min_time_s, ConfigSource::Cli);
    if (o.warmup_s) cfg.set("run.warmup_s", *o.warmup_s, ConfigSource::Cli);
    if (!o.servers.empty()) cfg.set("coupling.server_addresses", o.servers, ConfigSource::Cli);
    if (!o.redis.empty()) cfg.set("coupling.redis_address", o.redis, ConfigSource::Cli);
  } catch (const ConfigError& e) {
    return fail(e.what());
  }
  if (info->check_config) {
    const std::string why = info->check_config(cfg);
    if (!why.empty()) return fail(why);
  }
  if (const std::string why = check_harness_config(cfg); !why.empty()) return fail(why);
  if (const std::string why = coupling_unavailable(*coupling, cfg.get_string("coupling.staging")); !why.empty())
    return fail(why);
  if (const std::string why = reducer_refusal(cfg, *coupling); !why.empty()) return fail(why);
  // The embedded servers must admit every request the ranks keep in flight:
  // one setting for both sides, refused up front instead of RESOURCE_EXHAUSTED
  // mid-run. (Collective: every rank reaches the same verdict.)
  if ((*coupling == Coupling::SemiTight || *coupling == Coupling::Loose) &&
      cfg.get_string("coupling.server_addresses").empty()) {
    long servers = cfg.get_int("coupling.servers"), clients = nranks;
    if (*coupling == Coupling::SemiTight) {
      if (cfg.get_int("coupling.servers_per_node") > 0) servers = cfg.get_int("coupling.servers_per_node");
      clients = 0;
      for (const auto& n : allgather_text(std::to_string(node_local_ranks()))) clients = std::max(clients, std::stol(n));
    }
    const long demand = clients * cfg.get_int("coupling.max_inflight");
    const long capacity = servers * (cfg.get_int("coupling.server_concurrency") + cfg.get_int("coupling.server_max_queue"));
    if (demand > capacity)
      return fail(std::to_string(clients) + " rank(s) x coupling.max_inflight=" +
                  std::to_string(cfg.get_int("coupling.max_inflight")) + " requests in flight exceed what " +
                  std::to_string(servers) + " server(s) admit (coupling.server_concurrency + coupling.server_max_queue = " +
                  std::to_string(capacity / servers) + " each); raise those, add servers, or lower max_inflight");
  }
  // Thread counts a machine can honour: at most its hardware threads.
  const long hw_threads = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  for (const char* key : {"run.threads", "coupling.server_threads"}) {
    if (cfg.get_int(key) > hw_threads)
      return fail(std::string(key) + "=" + std::to_string(cfg.get_int(key)) + " exceeds the " +
                  std::to_string(hw_threads) + " hardware threads of this machine; valid: 0 (one per core) to " +
                  std::to_string(hw_threads));
  }
  // Server CPUs: CPUs a process here may be given (its cpuset's).
  if (const std::string text = cfg.get_string("coupling.server_cpus"); !text.empty()) {
    std::vector<int> cpus;
    std::string why;
    const std::vector<int> usable = usable_cpus();
    if (!parse_cpu_list(text, &cpus, &why)) return fail("coupling.server_cpus=" + text + ": " + why);
    for (int c : cpus)
      if (!std::binary_search(usable.begin(), usable.end(), c))
        return fail("coupling.server_cpus=" + text + ": CPU " + std::to_string(c) +
                    " is not among the CPUs processes here may use (" + cpu_list_text(usable) +
                    "); valid: a list within them, or empty for the rank's own");
  }
  if (o.show_config) {
    if (rank == 0) print_config_help(cfg);
    return 0;
  }
  if (info->memory_bytes) {
    // Ranks that share this node share its memory.
    const int local = node_local_ranks();
    const double need = info->memory_bytes(cfg) * local;
    const double have = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
    if (need > 0.9 * have) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "this config needs about %.1f GiB (estimate: %.1f GiB per rank x %d rank(s) on this node), more "
                    "than 90%% of this machine's %.1f GiB; choose a smaller size or smaller grid/ensemble keys",
                    need / 1073741824.0, need / local / 1073741824.0, local, have / 1073741824.0);
      return fail(buf);
    }
  }

  std::string out = o.out;
  if (out.empty()) {
    std::filesystem::create_directories("results");
    out = "results/" + info->name + "_" + o.coupling + "_" + o.size + ".json";
  }
  int writable = 1;
  if (rank == 0) {
    std::string why = check_writable(out);
    if (!why.empty()) {
      std::fprintf(stderr, "motifbench: error: %s\n", why.c_str());
      writable = 0;
    }
  }
  writable = world_bcast_int(writable);
  if (!writable) return kExitUsage;

  if (rank == 0) {
    const int swept = sweep_stale_entries();
    if (swept > 0 && !o.quiet)
      std::fprintf(stderr, "motifbench: removed %d stale entr%s left by killed runs\n", swept, swept == 1 ? "y" : "ies");
  }
  // One thread count for every library: Kokkos, LibTorch (and its OpenMP),
  // OpenBLAS. Default (0): this node's cores shared among its ranks.
  const int local_ranks = node_local_ranks();
  int threads = static_cast<int>(cfg.get_int("run.threads"));
  if (threads <= 0) threads = static_cast<int>(std::max(1L, hw_threads / local_ranks));
  surrogates::set_threads(threads);  // LibTorch's and OpenBLAS' pools
  init_kokkos(threads);
  // Held until the result is written: the embedded servers start under it.
  const WakeupLatencyLimit wakeup_limit(static_cast<long>(cfg.get_int("run.cpu_wakeup_latency_us")));
  RunResult result;
  // Taken before the run, so start_time_utc is the start.
  SystemContext context = gather_system_context(argv, nranks);
  record_wakeup_limit(context.cpu_idle, wakeup_limit.state());
  context.mpi_init = g_mpi_reason;
  context.model_device = model_device(cfg);  // checked with the config above, so it resolves
  context.gpus = nvml_gpu_names(cfg.get_string("energy.nvml_library"), &context.gpus_detail);
  {
    RunRequest req{info, *coupling, o.size, argv, rank, nranks, o.quiet};
    std::unique_ptr<CouplingEnv> env;
    try {
      env = prepare_coupling(cfg, *coupling, rank);
    } catch (const std::exception& e) {
      if (rank == 0) std::fprintf(stderr, "motifbench: error: %s\n", e.what());
      result = begin_result(req, cfg);
      result.valid = false;
      result.invalid_reasons.push_back(std::string("coupling setup failed: ") + e.what());
    }
    if (env && interrupted_signal() != 0) {
      result = begin_result(req, cfg);
      result.valid = false;
      result.interrupted_signal = interrupted_signal();
      result.invalid_reasons.push_back("interrupted by signal " + std::to_string(result.interrupted_signal) +
                                       " before the first repetition");
    } else if (env) {
      result = run_motif(req, cfg, env.get());
      if (!result.valid && rank == 0)
        for (const auto& why : result.invalid_reasons) std::fprintf(stderr, "motifbench: error: %s\n", why.c_str());
    }
    result.context = context;
    result.context.load_average_end = load_average_now();
    for (auto& w : context_warnings(result.context)) result.warnings.push_back(std::move(w));
    env.reset();  // stops embedded servers and Redis, removes sockets and shm
  }
  Kokkos::finalize();
  if (rank != 0) return result.interrupted_signal != 0 ? 128 + result.interrupted_signal : (result.valid ? 0 : kExitInvalid);

  print_console(stdout, result);
  std::string err = write_json_file(out, to_json(result));
  if (!err.empty()) {
    std::fprintf(stderr, "motifbench: error: %s\n", err.c_str());
    return kExitInvalid;
  }
  std::printf("wrote %s\n", out.c_str());
  // An interrupted run ends with the conventional status of its signal.
  if (result.interrupted_signal != 0) return 128 + result.interrupted_signal;
  return result.valid ? 0 : kExitInvalid;
}

}  // namespace

int cli_main(int argc, char** argv) {
  default_crash_handling();
  // `motifbench serve` is the inference server: no MPI, no Kokkos.
  // (It installs its own signal handling first thing.)
  if (argc >= 2 && std::string(argv[1]) == "serve") {
    surrogates::ensure_runtime_settings(argv);
    return surrogates::serve_main(argc - 1, argv + 1, MOTIFBENCH_VERSION);
  }
  // Result tools: no MPI, no Kokkos.
  if (argc >= 2 && std::string(argv[1]) == "validate") return validate_main(argc - 1, argv + 1);
  if (argc >= 2 && std::string(argv[1]) == "compare") return compare_main(argc - 1, argv + 1);
  if (argc >= 2 && std::string(argv[1]) == "sweep") return sweep_main(argc - 1, argv + 1);
  // Before any library of ours starts a thread: the handlers are process-wide,
  // so a signal is handled whichever thread it reaches.
  surrogates::ensure_runtime_settings(argv);
  install_signal_cleanup();
  const MpiDecision mpi = start_mpi(&argc, &argv);
  if (!mpi.error.empty()) {
    std::fprintf(stderr, "motifbench: error: %s\n", mpi.error.c_str());
    return kExitUsage;
  }
  g_mpi_reason = mpi.reason;
  const int rank = world_rank(), nranks = world_size();

  CLI::App app{"motifbench: AI-coupled HPC workflow benchmarks (six execution motifs, four coupling modes)"};
  Options o;
  app.add_option("--motif", o.motif, "mini-app to run (see --list)");
  app.add_option("--coupling", o.coupling, "tight | semi-tight | loose | none")->capture_default_str();
  app.add_option("--size", o.size, "tiny | small | medium | large")->capture_default_str();
  app.add_option("--config", o.config_file, "JSON config file (layered over the size profile)");
  app.add_option("--set", o.sets, "override one config key: key=value (repeatable)");
  app.add_option("--repetitions", o.repetitions, "measured repetitions (run.repetitions)");
  app.add_option("--min-time-s", o.min_time_s, "minimum measured seconds per repetition (run.min_time_s)");
  app.add_option("--warmup-s", o.warmup_s, "warm-up seconds per repetition (run.warmup_s)");
  app.add_option("--seed", o.seed, "base seed (run.seed)");
  app.add_option("--threads", o.threads, "LibTorch/Kokkos threads (run.threads; 0 = one per core)");
  app.add_option("--server", o.servers, "use existing inference servers: host:port or unix:/path, comma-separated");
  app.add_option("--redis", o.redis, "use an existing Redis: host:port");
  app.add_option("--out", o.out, "result file (default results/<motif>_<coupling>_<size>.json)");
  app.add_option("--plugin", o.plugins, "load out-of-tree mini-apps from this shared object (repeatable; also MOTIFBENCH_PLUGINS=a.so:b.so)");
  app.add_flag("--list", o.list, "list the motifs, coupling modes and sizes");
  app.add_flag("--show-config", o.show_config, "print every config key with its effective value and exit");
  app.add_flag("--quiet", o.quiet, "no progress lines");
  app.add_flag("--version", o.version, "print the version and exit");
  app.footer(
      "\nCommands:\n"
      "  motifbench serve [--listen ADDR] ...      the inference server of the semi-tight and loose modes\n"
      "  motifbench validate FILE...               check result files against the schema\n"
      "  motifbench compare BASE NEW [...]         verdicts against the measured noise; exit 1 on a regression\n"
      "  motifbench sweep [--motif ...] [...]      run a matrix of motif x coupling x size\n"
      "Each takes --help.");

  std::vector<std::string> args(argv, argv + argc);
  int code = 0;
  try {
    app.parse(argc, argv);
    if (o.version) {
      if (rank == 0) {
        std::printf("motifbench %s (result schema %s)\n", MOTIFBENCH_VERSION, MOTIFBENCH_SCHEMA_VERSION);
        std::printf("%s", components_text().c_str());
      }
    } else {
      code = run(o, args, rank, nranks);
    }
  } catch (const CLI::CallForHelp&) {
    if (rank == 0) std::printf("%s", app.help().c_str());
  } catch (const CLI::ParseError& e) {
    code = rank == 0 ? usage_error(app, e, "motifbench") : kExitUsage;
  }
  stop_mpi();
  return code;
}

}  // namespace motifbench::detail
