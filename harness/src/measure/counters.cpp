#include "measure/counters.hpp"

#include "build_info.hpp"

#if MOTIFBENCH_HAVE_PAPI
#include <papi.h>
#endif

namespace motifbench::detail {

#if MOTIFBENCH_HAVE_PAPI
namespace {

class PapiCounters final : public HardwareCounters {
 public:
  PapiCounters(int event_set, std::vector<std::string> names) : m_set(event_set), m_names(std::move(names)) {}
  ~PapiCounters() override {
    std::vector<long long> sink(m_names.size());
    PAPI_stop(m_set, sink.data());
    PAPI_cleanup_eventset(m_set);
    PAPI_destroy_eventset(&m_set);
  }
  const std::vector<std::string>& names() const override { return m_names; }
  void read(long long* values) override { PAPI_read(m_set, values); }

 private:
  int m_set;
  std::vector<std::string> m_names;
};

}  // namespace
#endif

std::unique_ptr<HardwareCounters> make_hardware_counters(const std::string& source, std::string* why_not) {
  if (source == "none") {
    *why_not = "switched off (counters.source=none)";
    return nullptr;
  }
#if MOTIFBENCH_HAVE_PAPI
  if (!PAPI_is_initialized()) {
    const int v = PAPI_library_init(PAPI_VER_CURRENT);
    if (v != PAPI_VER_CURRENT) {
      *why_not = "PAPI_library_init failed: " + std::string(v > 0 ? "version mismatch" : PAPI_strerror(v));
      return nullptr;
    }
  }
  int set = PAPI_NULL;
  if (int e = PAPI_create_eventset(&set); e != PAPI_OK) {
    *why_not = std::string("PAPI_create_eventset: ") + PAPI_strerror(e);
    return nullptr;
  }
  struct Preset {
    int code;
    const char* name;
  };
  const Preset wanted[] = {{PAPI_TOT_INS, "instructions"}, {PAPI_TOT_CYC, "cycles"}, {PAPI_L3_TCM, "l3_cache_misses"},
                           {PAPI_L2_TCM, "l2_cache_misses"}};
  std::vector<std::string> names;
  std::string refused;
  for (const auto& p : wanted) {
    if (int e = PAPI_add_event(set, p.code); e == PAPI_OK)
      names.emplace_back(p.name);
    else
      refused += std::string(refused.empty() ? "" : ", ") + p.name + " (" + PAPI_strerror(e) + ")";
  }
  if (names.empty() || PAPI_start(set) != PAPI_OK) {
    PAPI_cleanup_eventset(set);
    PAPI_destroy_eventset(&set);
    *why_not = "PAPI has no usable preset counter on this machine: " + refused;
    return nullptr;
  }
  return std::make_unique<PapiCounters>(set, std::move(names));
#else
  *why_not = "this build has no PAPI (libpapi-dev was not found at configure time)";
  return nullptr;
#endif
}

}  // namespace motifbench::detail
