#include "core/plugins.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <sstream>

#include "motifbench/plugin.hpp"

namespace motifbench::detail {

std::vector<std::string> plugin_paths(const std::vector<std::string>& from_cli) {
  std::vector<std::string> out = from_cli;
  if (const char* env = std::getenv("MOTIFBENCH_PLUGINS")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string load_plugins(const std::vector<std::string>& paths, Registry& registry) {
  for (const auto& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      return "--plugin '" + path + "' is not a file (expected a shared object built with MOTIFBENCH_PLUGIN)";
    // A path without a slash would search the library path: load what was named.
    const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return "--plugin '" + path + "' cannot be loaded: " + dlerror();
    // Kept loaded for the life of the process: its code runs the motifs.
    using VersionFn = int (*)();
    using RegisterFn = void (*)(Registry&);
    auto version = reinterpret_cast<VersionFn>(dlsym(handle, "motifbench_plugin_api_version"));
    auto add = reinterpret_cast<RegisterFn>(dlsym(handle, "motifbench_plugin_register"));
    if (version == nullptr || add == nullptr)
      return "--plugin '" + path + "' is not a motifbench plugin (no MOTIFBENCH_PLUGIN(...) in it)";
    if (version() != MOTIFBENCH_PLUGIN_API_VERSION)
      return "--plugin '" + path + "' was built for plugin API " + std::to_string(version()) +
             "; this motifbench has API " + std::to_string(MOTIFBENCH_PLUGIN_API_VERSION) + " (rebuild it)";
    Registry mine;
    add(mine);
    if (mine.motifs().empty()) return "--plugin '" + path + "' registers no motif";
    for (const auto& info : mine.motifs()) {
      if (registry.find(info.name) != nullptr)
        return "--plugin '" + path + "' registers motif '" + info.name +
               "', which already exists; motifs so far: " + registry.name_list();
      registry.add(info);
    }
  }
  return "";
}

}  // namespace motifbench::detail
