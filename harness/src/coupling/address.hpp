// The addresses a user gives (--server, --redis, serve --listen), checked
// before anything connects or listens: a port such as 99999 must be refused,
// not wrapped by a library to another port.
#pragma once

#include <cstddef>
#include <string>

namespace motifbench::detail {

enum class AddressKind { HostPort, HostPortOrUnix };

/// Why `text` is not an address of `kind`, or "" when it is one: host:port,
/// [v6]:port or (HostPortOrUnix) unix:/path. The port is a decimal number in
/// [min_port, 65535]; a server that may pick a free port passes min_port 0.
inline std::string address_problem(const std::string& text, AddressKind kind, int min_port) {
  const std::string valid = kind == AddressKind::HostPortOrUnix ? "host:port, [v6]:port or unix:/path" : "host:port or [v6]:port";
  const std::string bad = "'" + text + "' is not an address; valid: " + valid;
  if (kind == AddressKind::HostPortOrUnix && text.rfind("unix:", 0) == 0) {
    const std::string path = text.substr(5);
    if (path.empty()) return bad + " (the path is empty)";
    if (path.size() > 107) return bad + " (a Unix socket path has at most 107 bytes)";
    return "";
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad;
  const std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  const bool bracketed = host.front() == '[';
  if (bracketed ? (host.size() < 3 || host.back() != ']') : host.find(':') != std::string::npos)
    return bad + " (an IPv6 host goes in brackets)";
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad + " (the port is not a number)";
  const int p = std::stoi(port);
  if (p < min_port || p > 65535)
    return bad + " (the port must be in [" + std::to_string(min_port) + ", 65535])";
  return "";
}

/// The same for a comma-separated list; "" when every entry is an address.
inline std::string address_list_problem(const std::string& text, AddressKind kind, int min_port) {
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string entry = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (std::string why = address_problem(entry, kind, min_port); !why.empty()) return why;
    if (comma == std::string::npos) return "";
    start = comma + 1;
  }
}

}  // namespace motifbench::detail
