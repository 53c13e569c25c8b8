// How every motifbench command answers a command line it cannot parse: the
// error, the options the command takes, and exit status 2. --help prints the
// help and exits 0.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

namespace motifbench::detail {

constexpr int kExitUsage = 2;

/// The command's options as a user types them: "--motif --size ... BASE NEW".
inline std::string option_names(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_lnames().empty()) {
      out += (out.empty() ? "" : " ") + o->get_name();  // a positional
      continue;
    }
    for (const auto& n : o->get_lnames()) out += (out.empty() ? "--" : " --") + n;
  }
  return out;
}

/// Prints the answer to a parse failure of `app` (whose name in messages is
/// `command`) and returns the exit status.
inline int usage_error(const CLI::App& app, const CLI::ParseError& e, const char* command) {
  if (e.get_exit_code() == 0) {  // --help and friends
    std::printf("%s", app.help().c_str());
    return 0;
  }
  std::fprintf(stderr, "%s: error: %s\nvalid options: %s\n", command, e.what(), option_names(app).c_str());
  return kExitUsage;
}

}  // namespace motifbench::detail
