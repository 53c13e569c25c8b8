#include "core/harness_config.hpp"

#include "coupling/address.hpp"
#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"

namespace motifbench::detail {

void declare_harness_config(ConfigSchema& s) {
  s.add_int("run.repetitions", 3, 1, 1000, "measured repetitions, each with a fresh mini-app and its own seed");
  s.add_real("run.min_time_s", 2.0, 0.0, 1e6, "minimum measured time per repetition");
  s.add_int("run.min_iterations", 10, 1, 1000000000, "minimum measured steps per repetition");
  s.add_int("run.max_iterations", 0, 0, 1000000000, "cap on measured steps per repetition (0: no cap)");
  s.add_real("run.warmup_s", 0.0, 0.0, 1e6,
             "warm-up time per repetition, beyond run.warmup_iterations (0: warm-up by iterations only, so the "
             "simulated state at the first measured step does not depend on speed)");
  s.add_int("run.warmup_iterations", 3, 0, 1000000, "warm-up steps per repetition, excluded from the figures");
  s.add_int("run.seed", 12345, 0, 2147483647, "base seed; repetition r uses a seed derived from it and r");
  s.add_int("run.threads", 0, 0, 4096, "LibTorch intra-op threads (0: one per core)");
  s.add_int("run.cpu_wakeup_latency_us", -1, -1, 2147483647,
            "while the run lasts, keep every CPU of the machine out of idle states that take longer than this "
            "to leave (Linux PM QoS, /dev/cpu_dma_latency; root or write access to it): 0 keeps idle CPUs "
            "polling, so a thread woken on one (a server's request, a client's answer) resumes at once, for "
            "power; -1: leave the machine's setting. The result records whether it was held "
            "(context.cpu_idle)");
  s.add_int("coupling.servers", 1, 1, 256, "embedded inference servers (semi-tight, loose)");
  s.add_string("coupling.server_addresses", "", "existing servers, comma-separated (unix:/path or host:port); set by --server");
  s.add_string("coupling.redis_address", "", "existing Redis host:port; set by --redis");
  s.add_choice("coupling.staging", "auto", {"auto", "memory", "shm", "redis", "file"},
               "staging store; auto: memory (tight), shm (semi-tight), redis (loose)");
  s.add_string("coupling.file_dir", "", "folder of the file staging store (default /tmp)");
  s.add_real("coupling.timeout_s", 10.0, 0.01, 3600.0, "deadline of every remote call; an external service unreachable this long has failed");
  s.add_real("coupling.start_timeout_s", 60.0, 0.1, 3600.0,
             "how long an embedded server or Redis may take to start (loading LibTorch from a cold disk is slow)");
  s.add_int("coupling.servers_per_node", 0, 0, 256,
            "semi-tight: embedded servers on each node, used by that node's ranks (0: coupling.servers)");
  s.add_int("coupling.max_inflight", 4, 1, 4096, "inference requests in flight per client");
  s.add_int("coupling.request_rows", 0, 0, 1 << 30, "rows per inference request (0: batch split over servers)");
  s.add_choice("coupling.rpc", "stream", {"stream", "unary"},
               "stream: a call of one request per server goes on a long-lived ModelStreamInfer stream to each "
               "(Triton's streaming inference; calls split into more requests stay unary); unary: every request is a "
               "ModelInfer call");
  s.add_int("coupling.poll_us", 50, 0, 100000,
            "streamed calls: the client polls for its answer, and each server for the stream's next request, this "
            "many microseconds before sleeping (0: never), when the last one came within twice that");
  s.add_bool("coupling.poll_ahead", false,
             "streamed calls whose answers (and each server's next requests) take longer than twice "
             "coupling.poll_us, over a Unix socket, when most of the last 8 came regularly: sleep on a timer until "
             "coupling.poll_us before the earliest moment they were sent, then poll for at most 6 x coupling.poll_us "
             "around when they are due, so that no wake-up of a sleeping thread lies on the critical path (CPU for "
             "latency); false: sleep until they come");
  s.add_choice("coupling.shared_memory", "auto", {"auto", "on", "off"},
               "tensors through system shared memory (Triton's extension): requests carry references, not bytes; "
               "auto: on when every server is on a Unix socket (semi-tight), off otherwise");
  s.add_int("coupling.server_threads", 0, 0, 1024,
            "LibTorch threads per embedded server (0: its node's cores over the larger of the ranks and the embedded "
            "servers there: a request gets the threads its rank's inference would have in process)");
  s.add_string("coupling.server_cpus", "",
               "the CPUs the embedded inference servers of each node may run on, in the kernel's cpulist format "
               "(0-3,6), among those its cpuset allows (the rank's own binding may be narrower); empty: the rank's own "
               "(its launcher's binding or taskset). "
               "With coupling.server_threads 0 the servers of a node share these CPUs' threads. "
               "The result says where they computed (context.cpu_placement[].server_cpus)");
  s.add_int("coupling.server_concurrency", 4, 1, 1024,
            "inference requests each embedded server computes at once (serve --concurrency)");
  s.add_int("coupling.server_max_queue", 256, 0, 65536,
            "inference requests each embedded server queues beyond those (serve --max-queue); the ranks' "
            "requests in flight (ranks x coupling.max_inflight) must fit in servers x (concurrency + queue)");
  s.add_int("coupling.max_batch_rows", 0, 0, 1 << 30, "server dynamic batching: rows per batch (0: off)");
  s.add_string("coupling.tls_ca", "",
               "TLS to the inference servers: PEM root certificate their certificates must chain to (empty: plaintext)");
  s.add_string("coupling.tls_server_name", "", "TLS: the name to verify in the servers' certificates (default: the host)");
  s.add_string("coupling.tls_cert", "", "TLS: PEM certificate the embedded servers present (needs tls_key and tls_ca)");
  s.add_string("coupling.tls_key", "", "TLS: the embedded servers' PEM private key (owner-only file)");
  s.add_int("coupling.max_queue_delay_us", 500, 0, 10000000, "server dynamic batching: longest queue wait");
  s.add_string("coupling.device", "auto",
               "where the models run (tight in-process, and the embedded servers): auto (cuda:<local rank mod GPUs> "
               "when LibTorch sees a GPU, else cpu), cpu, cuda, cuda:N");
  s.add_choice("coupling.kernels", surrogates::kernel_choices().front(), surrogates::kernel_choices(),
               "the built-in MLP's inference on the CPU (tight in-process, and the embedded servers): auto runs "
               "batches of 1-3 rows without a library call; for layers up to 64 wide, blocks of rows through "
               "every layer with sgemm on the calling thread below 32768 / width rows (2048 at 16 wide, 512 at "
               "64), LibTorch's oneDNN operators from there where it has them; for wider layers the row loops "
               "below 2048 / width rows, oneDNN from 4096 / width; LibTorch's addmm otherwise. oneDNN takes one "
               "thread per 32 Mflop of a call, at most the run's. libtorch runs addmm and in-place activations "
               "at every size. A user's TorchScript model runs as TorchScript either way");
  s.add_choice("coupling.reducer", "auto", {"auto", "mpi", "nccl"},
               "data-parallel gradient sums: auto is NCCL when the tight models are on GPUs and there are several "
               "ranks (MPI when NCCL does not load), else MPI");
  s.add_string("coupling.nccl_library", "libnccl.so.2", "NCCL library to dlopen (no build dependency on NCCL)");
  s.add_choice("coupling.tensor_copy", "auto", {"auto", "always"},
               "tensors between the mini-app's Views and the model: auto copies only where the memory spaces "
               "differ (timed as copy_to_model / copy_from_model); always copies host Views too, to measure that path");
  s.add_choice("energy.source", "auto", {"auto", "powercap", "cray", "estimated", "none"},
               "energy source; auto tries powercap, then cray, then the estimate");
  s.add_real("energy.watts_per_core", 12.0, 0.0, 1000.0, "estimate: watts per busy core (CPU-seconds x this)");
  s.add_real("energy.idle_watts", 0.0, 0.0, 10000.0, "estimate: constant watts added for the wall time");
  s.add_string("energy.powercap_root", "/sys/class/powercap", "root of the powercap sysfs tree");
  s.add_string("energy.cray_root", "/sys/cray/pm_counters", "root of the Cray pm_counters tree");
  s.add_choice("energy.gpu_source", "auto", {"auto", "nvml", "none"},
               "GPU energy beside the host's; auto: NVML when the driver's library loads");
  s.add_string("energy.nvml_library", "libnvidia-ml.so.1", "NVML library to dlopen (no build dependency on CUDA)");
  s.add_choice("counters.source", "auto", {"auto", "papi", "none"},
               "hardware counters per phase (instructions, cycles, cache misses); auto: PAPI when it works");
}

std::string check_harness_config(const Config& cfg) {
  const std::string ca = cfg.get_string("coupling.tls_ca"), cert = cfg.get_string("coupling.tls_cert"),
                    key = cfg.get_string("coupling.tls_key");
  if (cert.empty() != key.empty()) return "coupling.tls_cert and coupling.tls_key go together (both or neither)";
  if (!cert.empty() && ca.empty())
    return "coupling.tls_cert: the clients need coupling.tls_ca (the root certificate that signed it) to verify the "
           "servers";
  if (const std::string servers = cfg.get_string("coupling.server_addresses"); !servers.empty())
    if (std::string why = address_list_problem(servers, AddressKind::GrpcTarget, 1); !why.empty())
      return "coupling.server_addresses (--server): " + why;
  if (const std::string redis = cfg.get_string("coupling.redis_address"); !redis.empty())
    if (std::string why = address_problem(redis, AddressKind::HostPort, 1); !why.empty())
      return "coupling.redis_address (--redis): " + why;
  std::string pem, why;
  if (surrogates::resolve_device(cfg.get_string("coupling.device"), 0, &why).empty()) return "coupling.device: " + why;
  if (!ca.empty() && !surrogates::read_pem(ca, false, &pem, &why)) return "coupling.tls_ca: " + why;
  if (!cert.empty() && !surrogates::read_pem(cert, false, &pem, &why)) return "coupling.tls_cert: " + why;
  if (!key.empty() && !surrogates::read_pem(key, true, &pem, &why)) return "coupling.tls_key: " + why;
  return "";
}

}  // namespace motifbench::detail
