// The remote surrogate client of the semi-tight and loose modes: gRPC
// (KServe v2 ModelInfer, or Triton's ModelStreamInfer) to N servers, sharding each batch across them with a
// bounded number of requests in flight. Training runs on a local mirror of the
// model; the new weights are pushed to every server (RepositoryModelLoad).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "motifbench/surrogate.hpp"

namespace motifbench::detail {

class ServerCpus;  // core/cpu_placement.hpp

/// TLS for the channel to a server (gRPC's own credentials). Empty ca_pem:
/// plaintext, as on the embedded servers' loopback and Unix sockets.
struct ChannelSecurity {
  std::string ca_pem;       ///< root certificate(s) the server's certificate must chain to
  std::string server_name;  ///< name to verify instead of the address's host (empty: the host)
};

struct RemoteOptions {
  std::vector<std::string> endpoints;  ///< "unix:/path" or "host:port"
  double timeout_s = 10;               ///< deadline of every call
  int max_inflight = 4;                ///< requests in flight at once
  long request_rows = 0;               ///< rows per request (0: batch split evenly over servers)
  int first_endpoint = 0;              ///< rotation start (the rank), so ranks spread over servers
  /// Appended to the model name on the server, so ranks sharing a server keep
  /// their own model and weights (e.g. "-r1").
  std::string model_suffix;
  /// Sent as `authorization: Bearer <token>` on every model call, when set.
  std::string token;
  /// Fail a call answered by another model version than the one pushed (a
  /// model replaced behind the run's back). Off only for the transport
  /// benchmark, which swaps in the null model on purpose.
  bool check_version = true;
  /// Tensors through system shared memory (Triton's extension): the client
  /// registers one owner-only segment with every server and each request
  /// carries only region, offset and size. The servers must be on this host.
  bool shared_memory = false;
  ChannelSecurity security;
  /// A call that needs at most one request per server (and no more than
  /// max_inflight) goes on a long-lived ModelStreamInfer stream to each
  /// server (Triton's streaming inference) instead of a unary ModelInfer:
  /// the same request and response, without a new HTTP/2 stream, headers and
  /// trailers per call. Calls split into more requests stay unary, so a server
  /// computes them concurrently.
  bool stream = true;
  /// A streamed call polls its completion queue this many microseconds before
  /// its thread sleeps (0: never), the window starting again at each of the
  /// call's completions (request written, answer), when the last call's
  /// answers came within twice that (coupling.poll_us; the servers get it as
  /// serve --poll-us).
  long poll_us = 50;
  /// A streamed call whose answers take longer: when set and the last calls'
  /// answers came regularly, it sleeps on a timer until just before they are
  /// due and polls a bounded window around then (the rule is PollPlan's;
  /// coupling.poll_ahead, serve --poll-ahead); otherwise it sleeps until the
  /// answers wake it.
  bool poll_ahead = false;
  /// When set, each answer of a server on this host (a Unix socket) adds the
  /// CPU the server computed it on (the run's cpu_placement.server_cpus).
  std::shared_ptr<ServerCpus> server_cpus;
};

/// Receives latency samples: channel name and nanoseconds.
using LatencySink = std::function<void(const std::string&, double)>;

/// Connects, pushes the model of `spec` to every server, and checks each is
/// ready. Throws std::runtime_error naming the server when one is unreachable.
std::unique_ptr<SurrogateClient> make_grpc_client(const SurrogateSpec& spec, const RemoteOptions& options,
                                                  LatencySink sink);

/// Polls ServerReady until it answers or timeout_s passes; returns the
/// server's ServerMetadata version. Throws on timeout.
std::string wait_server_ready(const std::string& endpoint, double timeout_s, const ChannelSecurity& security = {});

}  // namespace motifbench::detail
