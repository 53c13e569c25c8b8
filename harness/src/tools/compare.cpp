#include "tools/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <unordered_map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "build_info.hpp"
#include "cli/usage_error.hpp"
#include "motifbench/stats.hpp"
#include "tools/validate.hpp"

namespace motifbench::detail {
namespace {

namespace fs = std::filesystem;

enum class Better { Higher, Lower };

/// --pool: a change must exceed this many times the spread between the
/// pooled runs' medians (on either side).
constexpr double kSpreadFactor = 2.0;

struct Metric {
  std::string name;
  Better better;
  std::vector<double> samples;  // one per repetition (or one summary value)
};

struct Run {
  std::string file, key, label;
  std::map<std::string, std::string> config;  // run.config_effective
  std::map<std::string, std::string> context;  // figure_context()
  std::vector<Metric> metrics;
  bool valid = true;
  std::string why_invalid;
  /// --pool: how many runs of this key were pooled into this one (1: none),
  /// and per metric the largest relative distance of one run's median from
  /// the pooled median (the spread between runs).
  std::size_t pooled_runs = 1;
  std::map<std::string, double> between_runs_spread;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A run's metrics in the order first seen, each with one sample per repetition.
class MetricList {
 public:
  void add(const std::string& name, Better b, double v) {
    auto [it, fresh] = m_index.emplace(name, m_out.size());
    if (fresh)
      m_out.push_back({name, b, {v}});
    else
      m_out[it->second].samples.push_back(v);
  }
  std::vector<Metric> take() { return std::move(m_out); }

 private:
  std::vector<Metric> m_out;
  std::unordered_map<std::string, std::size_t> m_index;
};

std::vector<Metric> extract(const nlohmann::json& d) {
  MetricList list;
  for (const auto& rep : d["repetitions"]) {
    if (rep.value("iterations_count", 0) <= 0) continue;
    list.add("steps_per_s", Better::Higher, rep["iterations_per_s"].get<double>());
    for (auto it = rep["phases"].begin(); it != rep["phases"].end(); ++it) {
      const double t = it.value()["total_s"].get<double>();
      const double items = it.value()["work"]["items_count"].get<double>();
      if (t > 0 && items > 0) list.add("phase." + it.key() + ".items_per_s", Better::Higher, items / t);
    }
    if (rep.contains("latency"))
      for (auto it = rep["latency"].begin(); it != rep["latency"].end(); ++it) {
        list.add("latency." + it.key() + ".p50_ns", Better::Lower, it.value()["p50_ns"].get<double>());
        list.add("latency." + it.key() + ".p99_ns", Better::Lower, it.value()["p99_ns"].get<double>());
      }
    const auto& e = rep["energy"];
    if (e["energy_j"].is_number())
      list.add(std::string("energy_per_step_j[") + e["method"].get<std::string>() + "]", Better::Lower,
               e["energy_j"].get<double>() / rep["iterations_count"].get<double>());
  }
  return list.take();
}

/// A step CPU counts in a rank's placement when it took at least this share
/// of the rank's measured steps (a migration or two is not another placement).
constexpr double kStepCpuShare = 0.1;

// The context that moves figures by itself, as text per field: the machine,
// the build, the threads and ranks, and the CPUs the ranks ran on. A field a
// result does not record (an older schema) is left out.
std::map<std::string, std::string> figure_context(const nlohmann::json& d) {
  std::map<std::string, std::string> out;
  if (!d.contains("context") || !d["context"].is_object()) return out;
  const auto& c = d["context"];
  for (const char* path : {"/host", "/cpu_model", "/cores_count", "/build_type", "/compiler", "/optimised_build",
                           "/kokkos/backend", "/kokkos/concurrency_count", "/torch/threads_count",
                           "/torch/model_device", "/mpi/ranks_count", "/threads/run_count", "/cpu_idle/driver",
                           "/cpu_idle/wakeup_latency_limit/effective", "/cpu_idle/wakeup_latency_limit/detail"}) {
    const nlohmann::json::json_pointer ptr(path);
    if (!c.contains(ptr) || c[ptr].is_null() || c[ptr].is_structured()) continue;
    const auto& v = c[ptr];
    std::string name = std::string(path + 1);
    std::replace(name.begin(), name.end(), '/', '.');
    out[name] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  if (c.contains("cpu_placement") && c["cpu_placement"].is_array() && !c["cpu_placement"].empty()) {
    // The CPUs with at least kStepCpuShare of a rank's counts, ascending.
    auto main_cpus = [](const nlohmann::json& counts, const char* count) {
      double total = 0;
      for (const auto& s : counts) total += s.value(count, 0.0);
      std::set<int> cpus;
      for (const auto& s : counts)
        if (total > 0 && s.value(count, 0.0) >= kStepCpuShare * total) cpus.insert(s.value("cpu_index", -1));
      std::string list;
      for (int cpu : cpus) list += (list.empty() ? "" : ",") + std::to_string(cpu);
      return list.empty() ? std::string("none") : list;
    };
    std::string allowed, steps, servers;
    bool any_servers = false;
    for (const auto& r : c["cpu_placement"]) {
      const std::string rank = "rank " + std::to_string(r.value("rank_index", 0)) + ": ";
      allowed += (allowed.empty() ? "" : "; ") + rank + r.value("allowed_cpus", std::string("?"));
      steps += (steps.empty() ? "" : "; ") + rank + main_cpus(r["step_cpus"], "steps_count");
      const bool has = r.contains("server_cpus") && r["server_cpus"].is_array() && !r["server_cpus"].empty();
      any_servers = any_servers || has;
      servers += (servers.empty() ? "" : "; ") + rank + (has ? main_cpus(r["server_cpus"], "calls_count") : "none");
    }
    out["cpu_placement.allowed_cpus"] = allowed;
    out["cpu_placement.step_cpus"] = steps;
    // Only where servers on the ranks' hosts computed (semi-tight).
    if (any_servers) out["cpu_placement.server_cpus"] = servers;
  }
  return out;
}

struct Loaded {
  std::vector<Run> runs;
  std::vector<std::string> errors;
};

Loaded load(const std::string& where) {
  Loaded l;
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(where, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(where, ec))
      if (e.is_regular_file() && e.path().extension() == ".json" && e.path().filename() != "index.json")
        files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) l.errors.push_back(where + ": no result files (*.json) in this directory");
  } else {
    files.push_back(where);
  }
  for (const auto& f : files) {
    nlohmann::json d;
    auto problems = validate_file(f, &d);
    if (!problems.empty()) {
      l.errors.push_back(f + ": " + problems.front().path + ": " + problems.front().message +
                         (problems.size() > 1 ? " (+" + std::to_string(problems.size() - 1) + " more)" : ""));
      continue;
    }
    Run r;
    r.file = f;
    const auto& run = d["run"];
    r.label = run["motif"].get<std::string>() + "/" + run["coupling"].get<std::string>() + "/" +
              run["size"].get<std::string>();
    r.key = r.label + "#" + run["config_hash"].get<std::string>();
    if (run.contains("config_effective") && run["config_effective"].is_object())
      for (auto it = run["config_effective"].begin(); it != run["config_effective"].end(); ++it)
        r.config[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    r.metrics = extract(d);
    r.context = figure_context(d);
    r.valid = d.value("valid", false);
    if (!r.valid && d.contains("invalid_reasons") && !d["invalid_reasons"].empty())
      r.why_invalid = d["invalid_reasons"][0].get<std::string>();
    l.runs.push_back(std::move(r));
  }
  return l;
}

std::string fmt(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-3))
    std::snprintf(buf, sizeof buf, "%.4g", v);
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// --pool: runs of one key (the same cell from several sweeps) as one run
// whose repetitions are all of theirs, in first-seen order. Each metric
// keeps how far the runs' medians lie apart: a tiny run on a shared machine
// drifts from one sweep to the next by more than its repetitions scatter
// inside one sweep, and only several sweeps show by how much.
std::vector<Run> pool_by_key(std::vector<Run> runs) {
  std::vector<Run> out;
  std::unordered_map<std::string, std::vector<std::size_t>> members;  // key -> indexes into runs
  std::vector<std::string> order;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto [it, fresh] = members.try_emplace(runs[i].key);
    if (fresh) order.push_back(runs[i].key);
    it->second.push_back(i);
  }
  for (const auto& key : order) {
    const auto& idx = members[key];
    Run pooled = runs[idx.front()];
    pooled.pooled_runs = idx.size();
    if (idx.size() > 1) {
      // Every metric that any of the runs has (a later sweep may add one),
      // with the repetitions of each run that has it.
      std::map<std::string, std::vector<double>> medians;  // per metric, one per run that has it
      std::map<std::string, std::vector<std::string>> contexts;  // per context field, its distinct values
      for (const auto& [field, value] : pooled.context) contexts[field] = {value};
      for (const auto& m : pooled.metrics) medians[m.name].push_back(median(m.samples));
      for (std::size_t k = 1; k < idx.size(); ++k) {
        pooled.file += ", " + runs[idx[k]].file;
        // A field that only a later run records (cpu_placement came in a
        // later schema) was not recorded by the runs before it.
        for (const auto& entry : runs[idx[k]].context)
          contexts.try_emplace(entry.first, std::vector<std::string>{"not recorded"});
        for (auto& [field, values] : contexts) {
          auto it = runs[idx[k]].context.find(field);
          const std::string v = it == runs[idx[k]].context.end() ? "not recorded" : it->second;
          if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
        }
        for (const auto& other : runs[idx[k]].metrics) {
          medians[other.name].push_back(median(other.samples));
          auto it = std::find_if(pooled.metrics.begin(), pooled.metrics.end(),
                                 [&](const Metric& m) { return m.name == other.name; });
          if (it == pooled.metrics.end())
            pooled.metrics.push_back(other);
          else
            it->samples.insert(it->samples.end(), other.samples.begin(), other.samples.end());
        }
      }
      // A context field the pooled runs do not share lists their values.
      for (const auto& [field, values] : contexts) {
        std::string all;
        for (const auto& v : values) all += (all.empty() ? "" : " | ") + v;
        pooled.context[field] = all;
      }
      for (const auto& m : pooled.metrics) {
        const double all = median(m.samples);
        double spread = 0;
        if (all != 0)
          for (double v : medians[m.name]) spread = std::max(spread, std::fabs(v - all) / std::fabs(all));
        pooled.between_runs_spread[m.name] = spread;
      }
      // A pooled baseline is valid when every run of it is.
      for (std::size_t k = 1; k < idx.size() && pooled.valid; ++k)
        if (!runs[idx[k]].valid) {
          pooled.valid = false;
          pooled.why_invalid = runs[idx[k]].why_invalid;
        }
    }
    out.push_back(std::move(pooled));
  }
  return out;
}

}  // namespace

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n1 = a.size(), n2 = b.size(), n = n1 + n2;
  if (n1 == 0 || n2 == 0) return 1.0;
  std::vector<std::pair<double, int>> all;
  for (double x : a) all.emplace_back(x, 0);
  for (double x : b) all.emplace_back(x, 1);
  std::sort(all.begin(), all.end());
  std::vector<double> ranks(n);
  double tie_term = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && all[j].first == all[i].first) ++j;
    const double mid = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));
    for (std::size_t k = i; k < j; ++k) ranks[k] = mid;
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  double r1 = 0;
  for (std::size_t k = 0; k < n; ++k)
    if (all[k].second == 0) r1 += ranks[k];
  const double mean_r1 = static_cast<double>(n1) * static_cast<double>(n + 1) / 2.0;
  const double observed = std::fabs(r1 - mean_r1);
  if (n <= 16) {
    // Exact: the share of all ways to pick n1 of the n ranks whose rank sum
    // is at least as far from its mean as the observed one.
    std::size_t extreme = 0, total = 0;
    std::function<void(std::size_t, std::size_t, double)> pick = [&](std::size_t start, std::size_t left, double sum) {
      if (left == 0) {
        ++total;
        if (std::fabs(sum - mean_r1) >= observed - 1e-9) ++extreme;
        return;
      }
      for (std::size_t k = start; k + left <= n; ++k) pick(k + 1, left - 1, sum + ranks[k]);
    };
    pick(0, n1, 0.0);
    return static_cast<double>(extreme) / static_cast<double>(total);
  }
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2), dn = static_cast<double>(n);
  const double var = dn1 * dn2 / 12.0 * ((dn + 1) - tie_term / (dn * (dn - 1)));
  if (var <= 0) return 1.0;
  const double z = (observed - 0.5) / std::sqrt(var);
  return std::erfc(std::max(0.0, z) / std::sqrt(2.0));
}

int compare_main(int argc, char** argv) {
  CLI::App app{"motifbench compare: verdicts on every matched run's key metrics, against the measured noise"};
  std::string base, fresh, format = "table", out_file;
  double threshold = 0.05, alpha = 0.05;
  bool allow_missing = false, pool = false;
  app.add_option("BASE", base, "baseline result file or directory")->required();
  app.add_option("NEW", fresh, "new result file or directory")->required();
  app.add_option("--threshold", threshold, "relative change that counts as a difference (0.05 = 5%)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  app.add_option("--alpha", alpha, "significance level of the rank test")->capture_default_str()->check(CLI::Range(1e-6, 0.5));
  app.add_option("--format", format, "table | json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  app.add_option("--out", out_file, "also write the JSON report to this file");
  app.add_flag("--allow-missing", allow_missing,
               "a baseline run missing from NEW is reported, not counted as a regression");
  app.add_flag("--pool", pool,
               "on each side, the runs of the same motif, coupling, size and config hash (one cell from several "
               "sweeps) are one run: their repetitions pooled, and a change must also exceed " +
                   std::to_string(static_cast<int>(kSpreadFactor)) +
                   " x the largest distance of one run's median from its side's pooled median");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e, "motifbench compare");
  }

  if (!std::isfinite(threshold) || !std::isfinite(alpha)) {
    std::fprintf(stderr, "motifbench compare: error: --threshold and --alpha must be finite numbers "
                         "(threshold in [0, 100], alpha in [1e-6, 0.5])\n");
    return 2;
  }
  Loaded b = load(base), n = load(fresh);
  if (pool) {
    b.runs = pool_by_key(std::move(b.runs));
    n.runs = pool_by_key(std::move(n.runs));
  }
  std::vector<std::string> errors = b.errors;
  errors.insert(errors.end(), n.errors.begin(), n.errors.end());
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "motifbench compare: error: %s\n", e.c_str());
    std::fprintf(stderr, "motifbench compare: refusing to compare: fix or remove the files above\n");
    return 2;
  }

  nlohmann::json report = {{"tool", "motifbench compare"},
                           {"schema_version", MOTIFBENCH_SCHEMA_VERSION},
                           {"threshold_fraction", threshold},
                           {"alpha_ratio", alpha},
                           {"method",
                            "per-repetition samples; Mann-Whitney U (two-sided, exact for n<=16) when both sides have "
                            ">= 4 repetitions: a difference needs p < alpha and |median change| > threshold; otherwise "
                            "|median change| > max(threshold, 2 x the larger coefficient of variation)" +
                                std::string(pool ? "; runs of one config pooled on each side (--pool): the change "
                                                   "must also exceed " +
                                                       std::to_string(static_cast<int>(kSpreadFactor)) +
                                                       " x the spread between their medians"
                                                 : "")}};
  nlohmann::json runs = nlohmann::json::array(), unmatched_base = nlohmann::json::array(),
                 unmatched_new = nlohmann::json::array();
  int regressions = 0;
  nlohmann::json problems = nlohmann::json::array();  // regressions that are not a metric: missing, invalid
  // A NEW run matches a BASE run of the same motif, coupling and size with the
  // same config hash; failing that, one whose config agrees on every key both
  // have: a key added since BASE (or dropped) does not hide the comparison
  // across commits, and it is listed beside the run. A key whose value
  // differs is another config: no match.
  // NEW's runs by key and by label, in file order: matching stays linear in
  // the number of runs (a CI history can hold thousands).
  std::set<const Run*> used;
  std::unordered_map<std::string, std::vector<const Run*>> new_by_key, new_by_label;
  std::unordered_map<std::string, std::size_t> key_cursor;  // runs before it are used
  for (const auto& rn : n.runs) {
    new_by_key[rn.key].push_back(&rn);
    new_by_label[rn.label].push_back(&rn);
  }
  static const std::vector<const Run*> kNone;
  auto same_label = [&](const Run& r) -> const std::vector<const Run*>& {
    auto it = new_by_label.find(r.label);
    return it == new_by_label.end() ? kNone : it->second;
  };
  auto agrees = [](const Run& a, const Run& c) {
    for (const auto& [k, v] : a.config) {
      auto it = c.config.find(k);
      if (it != c.config.end() && it->second != v) return false;
    }
    return true;
  };
  auto match = [&](const Run& rb) -> const Run* {
    if (auto it = new_by_key.find(rb.key); it != new_by_key.end()) {
      std::size_t& c = key_cursor[rb.key];
      while (c < it->second.size() && used.count(it->second[c])) ++c;
      if (c < it->second.size()) return it->second[c];
    }
    if (rb.config.empty()) return nullptr;
    for (const Run* rn : same_label(rb))
      if (!used.count(rn) && !rn->config.empty() && agrees(rb, *rn)) return rn;
    return nullptr;
  };
  for (const auto& rb : b.runs) {
    const Run* found = match(rb);
    if (found == nullptr) {
      // The same motif, coupling and size in NEW with another config: say which keys differ.
      std::string differs;
      for (const Run* rn : same_label(rb)) {
        if (used.count(rn)) continue;
        for (const auto& [k, v] : rb.config) {
          auto it = rn->config.find(k);
          if (it != rn->config.end() && it->second != v)
            differs += (differs.empty() ? "" : ", ") + k + " " + v + " -> " + it->second;
        }
        if (!differs.empty()) break;
      }
      unmatched_base.push_back({{"run", rb.label}, {"key", rb.key}, {"file", rb.file}});
      if (!allow_missing) {
        ++regressions;
        problems.push_back({{"run", rb.label}, {"verdict", "MISSING"},
                            {"detail", "in BASE (" + rb.file + ") but not in NEW: " +
                                           (differs.empty() ? std::string("the run failed, was dropped, or its config "
                                                                          "changed")
                                                            : "NEW has it with another config: " + differs)}});
      }
      continue;
    }
    used.insert(found);
    const Run& rn = *found;
    nlohmann::json config_only_base = nlohmann::json::object(), config_only_new = nlohmann::json::object();
    for (const auto& [k, v] : rb.config)
      if (!rn.config.count(k)) config_only_base[k] = v;
    for (const auto& [k, v] : rn.config)
      if (!rb.config.count(k)) config_only_new[k] = v;
    if (!rn.valid && rb.valid) {
      ++regressions;
      problems.push_back({{"run", rb.label}, {"verdict", "INVALID"},
                          {"detail", "valid in BASE, invalid in NEW (" + rn.file + "): " + rn.why_invalid}});
    } else if (!rb.valid) {
      problems.push_back({{"run", rb.label}, {"verdict", "BASE_INVALID"},
                          {"detail", "the baseline run is invalid (" + rb.file + "): " + rb.why_invalid +
                                     "; its figures are not a reference"}});
    }
    // Context that differs is no verdict, but a figure can move with it alone
    // (another host, build or thread count; steps on another CPU).
    nlohmann::json context_differences = nlohmann::json::array();
    for (const auto& [field, value] : rb.context)
      if (auto it = rn.context.find(field); it != rn.context.end() && it->second != value)
        context_differences.push_back({{"field", field}, {"base", value}, {"new", it->second}});
    nlohmann::json metrics = nlohmann::json::array(), only_base = nlohmann::json::array(),
                   only_new = nlohmann::json::array();
    std::unordered_map<std::string, const Metric*> base_metrics, new_metrics;
    for (const auto& m : rb.metrics) base_metrics.emplace(m.name, &m);
    for (const auto& m : rn.metrics) new_metrics.emplace(m.name, &m);
    auto find = [](const std::unordered_map<std::string, const Metric*>& in, const std::string& name) -> const Metric* {
      auto it = in.find(name);
      return it == in.end() ? nullptr : it->second;
    };
    // A metric on one side only (a channel added, renamed or no longer
    // recorded) has no verdict; it is listed so that it is not lost silently.
    for (const auto& mn : rn.metrics)
      if (find(base_metrics, mn.name) == nullptr) only_new.push_back(mn.name);
    for (const auto& mb : rb.metrics) {
      const Metric* mn = find(new_metrics, mb.name);
      if (mn == nullptr) {
        only_base.push_back(mb.name);
        continue;
      }
      const double med_b = median(mb.samples), med_n = median(mn->samples);
      const double change = med_b != 0 ? (med_n - med_b) / std::fabs(med_b) : 0.0;
      bool differs = false;
      std::string method;
      nlohmann::json p_json = nullptr;
      // Pooled runs: the change must also exceed their drift, on either side.
      std::optional<double> spread;
      for (const Run* side : {&rb, &rn})
        if (auto it = side->between_runs_spread.find(mb.name); it != side->between_runs_spread.end())
          spread = std::max(spread.value_or(0.0), it->second);
      const double floor_change = spread ? std::max(threshold, kSpreadFactor * *spread) : threshold;
      auto spread_note = [&] {
        if (!spread) return std::string();
        char buf[96];
        std::snprintf(buf, sizeof buf, ", %zu+%zu runs %.1f%% apart", rb.pooled_runs, rn.pooled_runs, 100 * *spread);
        return std::string(buf);
      };
      if (mb.samples.size() >= 4 && mn->samples.size() >= 4) {
        const double p = mann_whitney_p(mb.samples, mn->samples);
        p_json = p;
        differs = p < alpha && std::fabs(change) > floor_change;
        char buf[64];
        std::snprintf(buf, sizeof buf, "mann-whitney p=%.3g", p);
        method = buf + spread_note();
      } else {
        auto cv = [](const std::vector<double>& v) {
          auto s = summarize_reps(v);
          return s.mean != 0 ? s.stddev / std::fabs(s.mean) : 0.0;
        };
        const double noise = std::max(floor_change, 2.0 * std::max(cv(mb.samples), cv(mn->samples)));
        differs = std::fabs(change) > noise;
        char buf[64];
        std::snprintf(buf, sizeof buf, "threshold %.1f%%", 100 * noise);
        method = buf + spread_note();
      }
      const bool energy = mb.name.rfind("energy", 0) == 0;
      const bool improved = (mb.better == Better::Higher) == (change > 0);
      std::string verdict = "SAME";
      if (differs) verdict = energy ? (improved ? "BETTER" : "WORSE") : (improved ? "FASTER" : "SLOWER");
      if (verdict == "SLOWER" || verdict == "WORSE") ++regressions;
      metrics.push_back({{"metric", mb.name},
                         {"better", mb.better == Better::Higher ? "higher" : "lower"},
                         {"base_median", med_b},
                         {"new_median", med_n},
                         {"change_fraction", change},
                         {"base_samples_count", mb.samples.size()},
                         {"new_samples_count", mn->samples.size()},
                         {"p_value_ratio", p_json},
                         {"between_runs_spread_fraction", spread ? nlohmann::json(*spread) : nlohmann::json()},
                         {"method", method},
                         {"verdict", verdict}});
    }
    runs.push_back({{"run", rb.label},
                    {"key", rb.key},
                    {"base_file", rb.file},
                    {"base_runs_count", rb.pooled_runs},
                    {"new_runs_count", rn.pooled_runs},
                    {"new_file", rn.file},
                    {"metrics", metrics},
                    {"metrics_only_in_base", only_base},
                    {"metrics_only_in_new", only_new},
                    {"config_only_in_base", config_only_base},
                    {"config_only_in_new", config_only_new},
                    {"context_differences", context_differences}});
  }
  for (const auto& rn : n.runs)
    if (!used.count(&rn)) unmatched_new.push_back({{"run", rn.label}, {"key", rn.key}, {"file", rn.file}});
  report["runs"] = runs;
  report["unmatched_base"] = unmatched_base;
  report["unmatched_new"] = unmatched_new;
  report["problems"] = problems;
  report["regressions_count"] = regressions;
  const bool nothing_matched = runs.empty();

  if (!out_file.empty()) {
    std::ofstream o(out_file);
    o << report.dump(2) << "\n";
    if (!o) {
      std::fprintf(stderr, "motifbench compare: error: cannot write %s\n", out_file.c_str());
      return 2;
    }
  }
  if (format == "json") {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::printf("threshold %.1f%%, alpha %.3g; %s\n", 100 * threshold, alpha, report["method"].get<std::string>().c_str());
    for (const auto& r : runs) {
      std::printf("\n%s  [%s]\n", r["run"].get<std::string>().c_str(), r["key"].get<std::string>().substr(r["key"].get<std::string>().find('#') + 1).c_str());
      std::printf("  %-40s %14s %14s %9s  %-8s %s\n", "metric", "base", "new", "change", "verdict", "method");
      for (const auto& m : r["metrics"])
        std::printf("  %-40s %14s %14s %+8.1f%%  %-8s %s\n", m["metric"].get<std::string>().c_str(),
                    fmt(m["base_median"].get<double>()).c_str(), fmt(m["new_median"].get<double>()).c_str(),
                    100 * m["change_fraction"].get<double>(), m["verdict"].get<std::string>().c_str(),
                    m["method"].get<std::string>().c_str());
      for (const auto& [key, side] : {std::pair{"metrics_only_in_base", "BASE"}, std::pair{"metrics_only_in_new", "NEW"}}) {
        std::string list;
        for (const auto& name : r[key]) list += (list.empty() ? "" : ", ") + name.get<std::string>();
        if (!list.empty()) std::printf("  only in %s (no verdict): %s\n", side, list.c_str());
      }
      for (const auto& [key, side] : {std::pair{"config_only_in_base", "BASE"}, std::pair{"config_only_in_new", "NEW"}}) {
        std::string list;
        for (auto it = r[key].begin(); it != r[key].end(); ++it)
          list += (list.empty() ? "" : ", ") + it.key() + "=" + it.value().get<std::string>();
        if (!list.empty()) std::printf("  config keys only in %s (matched on the keys both have): %s\n", side, list.c_str());
      }
      if (!r["context_differences"].empty()) {
        std::printf("  context differs (no verdict; figures can move with it alone):\n");
        for (const auto& d : r["context_differences"])
          std::printf("    %-28s %s -> %s\n", d["field"].get<std::string>().c_str(), d["base"].get<std::string>().c_str(),
                      d["new"].get<std::string>().c_str());
      }
    }
    for (const auto& u : unmatched_base) std::printf("\nunmatched in BASE: %s (%s)\n", u["run"].get<std::string>().c_str(), u["file"].get<std::string>().c_str());
    for (const auto& u : unmatched_new) std::printf("unmatched in NEW: %s (%s)\n", u["run"].get<std::string>().c_str(), u["file"].get<std::string>().c_str());
    for (const auto& p : problems)
      std::printf("%s: %s: %s\n", p["verdict"].get<std::string>().c_str(), p["run"].get<std::string>().c_str(),
                  p["detail"].get<std::string>().c_str());
    std::printf("\n%zu matched, %zu unmatched, %d regression(s)\n", runs.size(), unmatched_base.size() + unmatched_new.size(), regressions);
  }
  if (nothing_matched) {
    std::fprintf(stderr, "motifbench compare: error: no run in NEW matches a run in BASE (same motif, coupling, size "
                         "and config hash, or a config that agrees on every key both have): nothing was compared\n");
    return 2;
  }
  return regressions > 0 ? 1 : 0;
}

}  // namespace motifbench::detail
