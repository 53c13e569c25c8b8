// Loading out-of-tree mini-apps (see motifbench/plugin.hpp).
#pragma once

#include <string>
#include <vector>

#include "motifbench/registry.hpp"

namespace motifbench::detail {

/// The plugin files to load: `from_cli` (--plugin) first, then the
/// colon-separated MOTIFBENCH_PLUGINS.
std::vector<std::string> plugin_paths(const std::vector<std::string>& from_cli);

/// dlopens each file, checks its API version and adds its motifs to
/// `registry`. Returns what went wrong (naming the file and the valid
/// choices), or an empty string. A motif name already registered is refused.
std::string load_plugins(const std::vector<std::string>& paths, Registry& registry);

}  // namespace motifbench::detail
