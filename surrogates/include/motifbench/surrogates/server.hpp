// `motifbench serve`: the surrogate inference server of the semi-tight and
// loose coupling modes. It speaks the Open Inference Protocol (KServe v2)
// gRPC shape (proto/inference.proto) on a Unix domain socket ("unix:/path")
// or TCP ("127.0.0.1:port"); the two modes differ only in that endpoint.
#pragma once

#include <memory>
#include <string>

namespace motifbench::surrogates {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  ///< "unix:/path" or "host:port" (port 0: pick a free one)
  int torch_threads = 1;               ///< LibTorch intra-op threads
  int grpc_threads = 4;                ///< inference requests computed at once
  /// ModelStreamInfer with one stream open: how long the server's stream
  /// thread polls for the next request before it sleeps (0: never), when the
  /// last one came within twice this.
  long poll_us = 50;
  /// A stream whose requests come further apart, from a client on this host
  /// (a Unix socket; the client says when it sent each): when they came
  /// regularly, sleep on a timer until just before the next is due and poll
  /// a bounded window around then (the rule is PollPlan's); false: sleep
  /// until it comes.
  bool poll_ahead = false;
  /// Inference requests that wait for a slot, at most; beyond it a request is
  /// answered RESOURCE_EXHAUSTED at once. A waiting request whose client
  /// cancels or whose deadline passes leaves the queue. Health and metadata
  /// calls never wait for a slot.
  int max_queue = 256;
  int max_models = 64;                 ///< distinct model names hosted at most
  long max_message_bytes = 1L << 30;   ///< largest request or response message
  long max_features = 1L << 20;        ///< in_features and out_features at most
  /// When set, every call but the health checks (ServerLive, ServerReady,
  /// ServerMetadata) must carry `authorization: Bearer <token>`; others get
  /// UNAUTHENTICATED.
  std::string token;
  /// TLS (PEM contents): when both are set the server speaks only TLS.
  std::string tls_cert_pem, tls_key_pem;
  /// Dynamic batching: requests are merged until this many rows are queued or
  /// the oldest has waited max_queue_delay_us. 0 disables batching.
  long max_batch_rows = 0;
  long max_queue_delay_us = 500;
  std::string version;                 ///< reported in ServerMetadata
  /// System shared memory (Triton's extension): regions registered at once,
  /// at most. Only POSIX shared-memory objects owned by the server's own user
  /// can be registered.
  int max_shm_regions = 256;
  /// Where hosted models run: "cpu" or "cuda:N" (serve --device, resolved by
  /// resolve_device). On a GPU the request's tensors are copied to it and
  /// back; that time is part of server_compute_ns and reported beside it as
  /// device_copy_ns.
  std::string device = "cpu";
  /// How a hosted built-in MLP infers on the CPU (serve --kernels, from
  /// coupling.kernels): "auto" or "libtorch", as make_local_client's.
  std::string kernels = "auto";
};

class InferenceServer {
 public:
  virtual ~InferenceServer() = default;
  /// The address clients use ("unix:/path" or "host:port" with the real port).
  virtual std::string endpoint() const = 0;
  /// Hosts a model: "identity" (echoes its input; the transport floor) or a
  /// TorchScript file's bytes. Replaces a model of the same name atomically.
  virtual void load_model(const std::string& name, const std::string& torchscript_bytes, long in_features,
                          long out_features) = 0;
  virtual void shutdown() = 0;
  virtual void wait() = 0;
};

/// Starts serving in background threads; throws std::runtime_error when the
/// address cannot be bound.
std::unique_ptr<InferenceServer> start_server(const ServerOptions& options);

/// Reads a PEM file (certificate or key) into `out`. A `secret` (private key)
/// must be readable by its owner only. On failure returns false with `why`.
bool read_pem(const std::string& path, bool secret, std::string* out, std::string* why);

/// The `motifbench serve` command line: parses argv (argv[0] is "serve"),
/// serves until SIGINT or SIGTERM, removes its socket file, returns the exit code.
int serve_main(int argc, char** argv, const std::string& version);

}  // namespace motifbench::surrogates
