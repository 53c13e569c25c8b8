// The addresses a user gives (--server, --redis, serve --listen), checked
// before anything connects or listens: a port such as 99999 must be refused,
// not wrapped by a library to another port.
#pragma once

#include <cstddef>
#include <string>

namespace motifbench::detail {

/// HostPort: Redis. HostPortOrUnix: where serve listens. GrpcTarget: a
/// server a client calls, which gRPC also takes with its resolver prefix
/// (ipv4:, ipv6:, dns:///); a server cannot listen on those.
enum class AddressKind { HostPort, HostPortOrUnix, GrpcTarget };

/// host:port or [v6]:port split at its last colon; the host keeps its
/// brackets, `bracketed` says whether it had them.
struct HostPortText {
  std::string host, port;
  bool bracketed = false;
  /// The host as a resolver takes it: without the brackets.
  std::string bare_host() const { return bracketed ? host.substr(1, host.size() - 2) : host; }
};

/// A gRPC target without the resolver prefix gRPC also takes (ipv4:,
/// ipv6:, dns:///): what is left is host:port.
inline std::string without_grpc_scheme(const std::string& text) {
  for (const std::string scheme : {"dns:///", "ipv4:", "ipv6:"})
    if (text.rfind(scheme, 0) == 0) return text.substr(scheme.size());
  return text;
}

inline HostPortText split_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return {text, "", false};
  HostPortText hp{text.substr(0, colon), text.substr(colon + 1), false};
  hp.bracketed = hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']';
  return hp;
}

/// Why `text` is not an address of `kind`, or "" when it is one: host:port,
/// [v6]:port, and for the other kinds unix:/path (GrpcTarget: also host:port
/// after gRPC's prefix). The port is a decimal number in [min_port, 65535];
/// a server that may pick a free port passes 0.
inline std::string address_problem(const std::string& text, AddressKind kind, int min_port) {
  const std::string valid = kind == AddressKind::HostPort ? "host:port or [v6]:port"
                            : kind == AddressKind::HostPortOrUnix
                                ? "host:port, [v6]:port or unix:/path"
                                : "host:port, [v6]:port or unix:/path (also after ipv4:, ipv6: or dns:///)";
  const std::string bad = "'" + text + "' is not an address; valid: " + valid;
  if (kind != AddressKind::HostPort && text.rfind("unix:", 0) == 0) {
    const std::string path = text.substr(5);
    if (path.empty()) return bad + " (the path is empty)";
    if (path.size() > 107) return bad + " (a Unix socket path has at most 107 bytes)";
    return "";
  }
  const std::string host_port = kind == AddressKind::GrpcTarget ? without_grpc_scheme(text) : text;
  const HostPortText hp = split_host_port(host_port);
  if (host_port.find(':') == std::string::npos || hp.host.empty()) return bad;
  if (hp.bracketed ? hp.host.size() < 3 : hp.host.find_first_of("[]:") != std::string::npos)
    return bad + " (an IPv6 host goes in brackets)";
  if (hp.port.empty() || hp.port.size() > 5 || hp.port.find_first_not_of("0123456789") != std::string::npos)
    return bad + " (the port is not a number)";
  const int p = std::stoi(hp.port);
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
