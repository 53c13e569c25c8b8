// The narrow interface between a mini-app and an AI model.
//
// A mini-app never sees LibTorch. It describes the model it wants with a
// SurrogateSpec and gets a SurrogateClient from RunContext::make_surrogate(),
// whose implementation depends on the coupling mode (in-process for tight; a
// server for semi-tight and loose). The motif code is the same in every mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace motifbench {

/// A multi-layer perceptron: in_features -> hidden... -> out_features, with
/// `activation` between layers and a linear output. Weights are initialised
/// deterministically from `seed`. When `path` is set, the model is instead
/// loaded from that TorchScript file, whose forward must map [N, in] -> [N, out].
struct SurrogateSpec {
  std::string name = "surrogate";
  std::int64_t in_features = 1;
  std::int64_t out_features = 1;
  std::vector<std::int64_t> hidden{32, 32};
  std::string activation = "tanh";  ///< tanh | relu | gelu
  std::uint64_t seed = 0;
  std::string path;                 ///< TorchScript file, optional
  double learning_rate = 1e-3;
};

/// Declared flops of one row through the built-in MLP that `s` describes (the
/// README's work convention): 2 per multiply-add of the layers' matrix
/// products; bias and activation are not counted. 0 for a TorchScript model
/// (`s.path` set), whose shape the harness does not know: no flops declared.
inline double inference_flops_per_row(const SurrogateSpec& s) {
  if (!s.path.empty()) return 0;
  double flops = 0;
  std::int64_t in = s.in_features;
  for (std::int64_t h : s.hidden) {
    flops += 2.0 * static_cast<double>(in) * static_cast<double>(h);
    in = h;
  }
  return flops + 2.0 * static_cast<double>(in) * static_cast<double>(s.out_features);
}

/// Declared flops of training the built-in MLP on one sample for one epoch:
/// the forward products, the weights' gradients (as many again) and the
/// gradients of every layer's input but the first's (the data needs none);
/// loss, bias, activation and optimizer updates are not counted. 0 for a
/// TorchScript model.
inline double training_flops_per_sample(const SurrogateSpec& s) {
  if (!s.path.empty()) return 0;
  const std::int64_t first_out = s.hidden.empty() ? s.out_features : s.hidden.front();
  return 3.0 * inference_flops_per_row(s) - 2.0 * static_cast<double>(s.in_features) * static_cast<double>(first_out);
}

/// Where a client's model reads and writes tensors without a copy.
enum class MemorySpace {
  Host,  ///< host memory: CPU models, and every remote client
  Cuda,  ///< a CUDA device's memory: a tight model placed on a GPU
};

/// Data-parallel training: sums a flat gradient buffer across all workers.
/// The harness provides one over MPI (RunContext::gradient_reducer()).
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  /// In-place sum of `n` floats over every worker; blocks until all arrive.
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual int world_size() const = 0;
  /// Seconds spent in the allreduce itself, and waiting for the slowest
  /// worker before it, since the reducer was made.
  virtual double allreduce_s() const = 0;
  virtual double straggler_wait_s() const = 0;
  /// Where allreduce_sum()'s buffer must be: Host (MPI), or Cuda (NCCL on
  /// the model's GPU). A model elsewhere copies its gradients there and back.
  virtual MemorySpace memory_space() const { return MemorySpace::Host; }
};

struct TrainOptions {
  std::int64_t epochs = 10;
  std::int64_t batch_size = 256;
  std::uint64_t seed = 0;           ///< shuffling seed
  /// When set, gradients are averaged over its workers before every optimizer
  /// step (synchronous data parallelism); every worker must call train() with
  /// the same number of batches.
  GradientReducer* reducer = nullptr;
};

struct TrainReport {
  double loss_first = 0;   ///< mean-squared error of the first epoch
  double loss_last = 0;    ///< mean-squared error of the last epoch
  std::int64_t samples_trained = 0;  ///< samples x epochs
};

/// Thread safety: one client per thread. All calls block until done.
class SurrogateClient {
 public:
  virtual ~SurrogateClient() = default;

  /// Batched forward pass. `in` is [batch x in_features] row-major and `out` is
  /// [batch x out_features]; both are owned by the caller and must stay valid for
  /// the call. The tight implementation wraps them without copying, except
  /// that on the CPU the built-in MLP takes batches of 2048 rows and more
  /// through oneDNN's own tensors (input copied in, output out; counted).
  /// The pointers are host memory; a model on a GPU copies them there and
  /// back (counted in bytes_copied()). For Kokkos Views in any memory space,
  /// use motifbench::infer_views() (motifbench/model_io.hpp).
  virtual void infer(const float* in, std::int64_t batch, float* out) = 0;

  /// infer() on pointers into memory_space() (device memory when it is Cuda),
  /// with no copy; returns when the outputs are written (the device's stream
  /// is synchronised). Clients whose memory_space() is Host take host pointers.
  virtual void infer_device(const float* in, std::int64_t batch, float* out) { infer(in, batch, out); }

  /// Where infer_device()'s pointers must point.
  virtual MemorySpace memory_space() const { return MemorySpace::Host; }

  /// Host buffers of this client's own for [rows x in_features] inputs and
  /// [rows x out_features] outputs: infer() on pointers that lie in them
  /// copies no tensor bytes. A semi-tight client with system shared memory
  /// gives its registered segment, and each request references the rows where
  /// they lie; a simulation that writes its model inputs there (and reads the
  /// outputs from there) then copies nothing. Null pointers when the client
  /// has no such buffers: the tight client wraps any host pointer already,
  /// and a client that sends tensor bytes copies them whatever their address.
  /// The buffers live until the client goes or io_buffers() is called again
  /// with more rows than they hold (then they are replaced, contents lost).
  struct IoBuffers {
    float* in = nullptr;
    float* out = nullptr;
  };
  virtual IoBuffers io_buffers(std::int64_t rows) {
    (void)rows;
    return {};
  }

  /// Trains on n samples (x: [n x in_features], y: [n x out_features]) with MSE
  /// loss and Adam, and makes the new weights live for later infer() calls
  /// (in-process, or pushed to the server(s) in remote modes).
  virtual TrainReport train(const float* x, const float* y, std::int64_t n, const TrainOptions& opt) = 0;

  /// Saves the current model as TorchScript (loadable with torch.jit.load).
  virtual void save(const std::string& path) = 0;

  /// Tensor bytes this client has copied so far (wrapping, serializing,
  /// output copies). The tight built-in MLP path copies none below 2048 rows
  /// (16 bytes a row through oneDNN at and above it on the CPU).
  virtual std::int64_t bytes_copied() const = 0;

  virtual std::int64_t in_features() const = 0;
  virtual std::int64_t out_features() const = 0;
  /// Where the model runs, e.g. "in-process (libtorch 1.13.1, 2 threads)".
  virtual std::string describe() const = 0;
};

}  // namespace motifbench
