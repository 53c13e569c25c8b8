// The built-in MLP's CPU inference, packed once from its weights, so that the
// tight path (LocalClient) and the server (HostedModel) run the same kernels
// at every batch size and semi-tight compares like with like:
//  - from kMinRows rows, LibTorch's oneDNN operators (at::mkldnn_linear with
//    prepacked weights, the activation on oneDNN's tensors) where oneDNN runs
//    the activation. On large batches they run 2.3-3x faster than the same
//    layers as addmm and tanh on ordinary tensors, mostly because LibTorch's
//    own tanh costs about three times glibc's or oneDNN's. oneDNN keeps its
//    own tensors: the input (rows x in floats) is copied into one and the
//    output copied out, and the callers count those bytes. It runs on as
//    many OpenMP threads as the call's work pays for (onednn_threads()).
//  - below that, layers up to kBlockedMaxWidth wide: blocks of rows through
//    every layer on the calling thread, with cblas_sgemm and glibc's vector
//    tanhf (forward_blocked), on the weights' own memory; no copy.
//  - otherwise, or without oneDNN, ordinary tensors: one addmm per layer on
//    the weights' transposed views, the activation in place, the output layer
//    written straight into the caller's buffer. No copy, and half the calls
//    of TorchScript's interpreter, which costs more than the arithmetic at
//    small batches (batch 1: about 9 us through TorchScript, 5.5 us here).
//  - for small batches (direct_rows()), no library call at all: the layers
//    row by row on the weights' own memory, the activation with glibc's
//    vector tanhf. LibTorch's dispatch (about 1 us per operator here) is
//    most of the ordinary path's 5-8.5 us at batch 1; this path takes
//    0.26-0.42 us.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/script.h>

namespace motifbench::surrogates {

/// The activations the built-in MLP knows.
bool known_activation(const std::string& activation);

/// In place, on a tensor the caller owns: inference only (no autograd).
torch::Tensor& activate_(torch::Tensor& x, const std::string& activation);

/// The hidden layers on ordinary tensors: h = act(h W^T + b) per layer, with
/// weights_t[l] = W_l^T (views are fine) and biases[l] = b_l, for every layer
/// but the last.
torch::Tensor mlp_hidden(const torch::Tensor& x, const std::vector<torch::Tensor>& weights_t,
                         const std::vector<torch::Tensor>& biases, const std::string& activation);

class BuiltinMlp {
 public:
  /// Rows from which oneDNN is faster than ordinary tensors: it costs about
  /// 0.2 ms per call before any row (measured on a 2-core AMD EPYC VM, layers
  /// 2-32-32-1: 1024 rows took 1.5x as long through oneDNN, 2048 rows 0.85x,
  /// 4096 rows 0.6x, 16384 rows 0.35x).
  static constexpr std::int64_t kMinRows = 2048;
  /// The direct path (forward_direct) takes batches of fewer rows than
  /// kDirectRowsTimesWidth / max(widest layer, kDirectMinWidth), and at
  /// least batch 1: it runs on one thread without BLAS, so the wider the
  /// layers, the sooner LibTorch's addmm catches up. Measured on the same
  /// VM, two threads, direct against addmm (medians of 5 runs), hidden
  /// layers of width w, two of them, where direct stops being faster:
  /// w 16 at about 256 rows (31.5 vs 32.2 us), w 32 at about 64 (17.4 vs
  /// 16.9 us; batch 1 0.26 vs 5.2 us), w 64 at about 32 (22.5 vs 20.8 us),
  /// w 256 between 4 and 16 rows (16: 115 vs 83 us), w 1024 beyond batch 2
  /// (batch 1 108 vs 281 us, 2 rows 216 vs 347 us). The rule gives 32 rows
  /// up to w 64, 8 at w 256, 2 at w 1024.
  static constexpr std::int64_t kDirectRowsTimesWidth = 2048, kDirectMinWidth = 64;
  /// The blocked path (forward_blocked) runs blocks of rows through every
  /// layer on the calling thread: cblas_sgemm with the bias as its C
  /// operand, then the activation (glibc's vector tanhf), in buffers that
  /// stay in the caches. A block has kBlasOneThreadMnk / (in x out of the
  /// largest layer) rows, at least one, so that OpenBLAS runs every sgemm on
  /// the calling thread (it splits one only above M x N x K = 65536 x its
  /// GEMM_MULTITHREAD_THRESHOLD, 4 by default). Layers up to
  /// kBlockedMaxWidth wide: measured against the ordinary path (addmm and
  /// LibTorch's tanh, two threads) in a loop of calls, 2-w-w-1: w 32 at 64
  /// rows 6.7 vs 16.0 us, 256 rows 19.7 vs 108 us, 1024 rows 76 vs 233 us;
  /// w 16 at 1024 rows 38 vs 132 us; w 64 at 256 rows 51 vs 137 us, 1024
  /// rows 265 vs 414 us; but w 256 at 1024 rows 6.6 ms against 1.8 ms
  /// (blocks of 4 rows).
  static constexpr std::int64_t kBlasOneThreadMnk = 262144, kBlockedMaxWidth = 64;
  /// oneDNN runs on one OpenMP thread per this many flops of the call (the
  /// run's count at most): waking a sleeping worker costs 20-90 us on the
  /// 2-core VM, and the second core's share of the batch then has to cross
  /// to it and back. In Digital Replica (2-32-32-1, 2240 flops per row,
  /// between the steps' other work), two threads against one: 16384 rows
  /// 590 vs 620 us for the inference step, but the next stencil 18-23 us
  /// against 10 us and fewer steps per second (four interleaved pairs);
  /// 32400 rows 0.86-0.96 ms against 1.23-1.55 ms; 65536 rows 1.8-2.0 ms
  /// against 3.5-4.1 ms.
  static constexpr double kOneDnnFlopsPerThread = 32e6;

  /// Whether this LibTorch has oneDNN and the activation runs on its tensors.
  static bool onednn_supports(const std::string& activation);

  /// weights[l] is [out x in], biases[l] [out]: dense CPU float tensors. The
  /// ordinary, blocked and direct paths keep views of them, so they follow in-place
  /// updates (a training step); the oneDNN path runs on packed copies, made
  /// by refresh(). kernels: "auto" (every path where it applies) or
  /// "libtorch" (the ordinary path at every size: coupling.kernels).
  void pack(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
            const std::string& activation, const std::string& kernels = "auto");
  bool packed() const { return !m_weights_t.empty(); }
  /// Whether large batches go through oneDNN.
  bool has_onednn() const { return m_onednn; }
  /// The weights changed in place: oneDNN's copies are out of date until refresh().
  void weights_changed() { m_onednn_stale = m_onednn; }
  /// Packs oneDNN's copies where they are out of date (a few tens of µs:
  /// callers do it before a large batch, not per call).
  void refresh();

  /// rows x in floats -> rows x out floats into `out`: below direct_rows()
  /// row by row, then blocked with sgemm below kMinRows where that path is
  /// on, through oneDNN from kMinRows rows where it has that path, else
  /// ordinary tensors. Returns the
  /// bytes it copied between the caller's memory and LibTorch's tensors.
  /// Thread-safe (the servers call it from several threads); a large batch
  /// after weights_changed() without refresh() is a std::logic_error.
  std::int64_t forward(const float* in, std::int64_t rows, float* out) const {
    if (rows < m_direct_rows) return forward_direct(in, rows, out);
    if (rows < m_blocked_rows) return forward_blocked(in, rows, out);
    return rows >= kMinRows && has_onednn() ? forward_onednn(in, rows, out) : forward_dense(in, rows, out);
  }
  /// Each path at any number of rows (for checks and tests).
  std::int64_t forward_onednn(const float* in, std::int64_t rows, float* out) const;
  std::int64_t forward_dense(const float* in, std::int64_t rows, float* out) const;
  /// Whether the direct path is on (kernels "auto", contiguous weights and
  /// biases), and the batches it takes: fewer rows than direct_rows().
  bool has_direct() const { return m_direct_rows > 0; }
  std::int64_t direct_rows() const { return m_direct_rows; }
  std::int64_t forward_direct(const float* in, std::int64_t rows, float* out) const;
  /// Whether the blocked path is on (kernels "auto", contiguous weights and
  /// biases, no layer wider than kBlockedMaxWidth); it takes the batches from
  /// direct_rows() up to kMinRows rows.
  bool has_blocked() const { return m_blocked_rows > 0; }
  std::int64_t forward_blocked(const float* in, std::int64_t rows, float* out) const;
  /// The OpenMP threads a oneDNN call of `rows` rows runs on, out of
  /// `threads`: one per kOneDnnFlopsPerThread of the call's flops, at least
  /// one.
  int onednn_threads(std::int64_t rows, int threads) const;

  std::int64_t in_features() const { return m_in; }
  std::int64_t out_features() const { return m_out; }

 private:
  std::vector<torch::Tensor> m_weights_t, m_biases;  ///< views: W^T and b per layer
  std::vector<torch::Tensor> m_onednn_weights;       ///< oneDNN-packed copies of W
  std::vector<std::int64_t> m_widths;                ///< in, then each layer's out
  std::int64_t m_widest = 0;                         ///< the largest of m_widths
  bool m_onednn = false, m_onednn_stale = false;
  std::int64_t m_direct_rows = 0;  ///< 0 without the direct path
  std::int64_t m_block_rows = 0;    ///< rows per block of the blocked path
  std::int64_t m_blocked_rows = 0;  ///< 0 without the blocked path, else kMinRows
  double m_flops_per_row = 0;       ///< 2 x in x out, summed over the layers
  std::string m_activation;
  std::int64_t m_in = 0, m_out = 0;
};

/// The built-in MLP as save() writes it: parameters w0, b0, w1, b1, ... and
/// its activation in the attribute kActivationAttribute.
inline constexpr const char* kActivationAttribute = "motifbench_activation";

/// The module's kActivationAttribute where it is an activation the built-in
/// MLP knows, else "".
std::string builtin_activation(const torch::jit::Module& module);

/// Packs `mlp` from such a module on the CPU and returns true; false for any
/// other module. A module that carries the mark must compute the MLP: both
/// packed paths are checked against its TorchScript forward on two rows (to
/// float rounding: other kernels, another summation order, 1e-4 absolute +
/// 1e-4 relative), and a module whose answers differ is an error
/// (std::invalid_argument), not answered wrongly.
bool pack_builtin_mlp(const torch::jit::Module& module, BuiltinMlp& mlp, const std::string& kernels = "auto");

/// "" when `kernels` is one of kernel_choices(), else why not, naming them.
std::string kernels_error(const std::string& kernels);

}  // namespace motifbench::surrogates
