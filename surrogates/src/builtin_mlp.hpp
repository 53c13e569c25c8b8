// The built-in MLP's CPU inference, packed once from its weights, so that the
// tight path (LocalClient) and the server (HostedModel) run the same kernels
// at every batch size and semi-tight compares like with like:
//  - from kMinRows rows, LibTorch's oneDNN operators (at::mkldnn_linear with
//    prepacked weights, the activation on oneDNN's tensors) where oneDNN runs
//    the activation. On large batches they run 2.3-3x faster than the same
//    layers as addmm and tanh on ordinary tensors, mostly because LibTorch's
//    own tanh costs about three times glibc's or oneDNN's. oneDNN keeps its
//    own tensors: the input (rows x in floats) is copied into one and the
//    output copied out, and the callers count those bytes.
//  - below that, or without oneDNN, ordinary tensors: one addmm per layer on
//    the weights' transposed views, the activation in place, the output layer
//    written straight into the caller's buffer. No copy, and half the calls
//    of TorchScript's interpreter, which costs more than the arithmetic at
//    small batches (batch 1: about 9 us through TorchScript, 5.5 us here).
//  - for small batches (direct_rows()), no LibTorch call at all: the layers
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

  /// Whether this LibTorch has oneDNN and the activation runs on its tensors.
  static bool onednn_supports(const std::string& activation);

  /// weights[l] is [out x in], biases[l] [out]: dense CPU float tensors. The
  /// ordinary and direct paths keep views of them, so they follow in-place
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
  /// without LibTorch, through oneDNN from kMinRows rows where it has that
  /// path, else ordinary tensors. Returns the
  /// bytes it copied between the caller's memory and LibTorch's tensors.
  /// Thread-safe (the servers call it from several threads); a large batch
  /// after weights_changed() without refresh() is a std::logic_error.
  std::int64_t forward(const float* in, std::int64_t rows, float* out) const {
    if (rows < m_direct_rows) return forward_direct(in, rows, out);
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

  std::int64_t in_features() const { return m_in; }
  std::int64_t out_features() const { return m_out; }

 private:
  std::vector<torch::Tensor> m_weights_t, m_biases;  ///< views: W^T and b per layer
  std::vector<torch::Tensor> m_onednn_weights;       ///< oneDNN-packed copies of W
  std::vector<std::int64_t> m_widths;                ///< in, then each layer's out
  std::int64_t m_widest = 0;                         ///< the largest of m_widths
  bool m_onednn = false, m_onednn_stale = false;
  std::int64_t m_direct_rows = 0;  ///< 0 without the direct path
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
