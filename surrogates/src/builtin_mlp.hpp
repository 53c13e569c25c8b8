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
//  - below kDirectRows rows, no LibTorch call at all: the layers row by row
//    on the weights' own memory, the activation with glibc's vector tanhf.
//    LibTorch's dispatch (about 1 us per operator here) is most of the
//    ordinary path's 5.5-8.5 us at batch 1; this path takes 0.4 us.
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
  /// Rows below which the layers run without LibTorch (forward_direct):
  /// measured on the same VM, layers 2-32-32-1, one thread, direct against
  /// ordinary tensors (medians of 9 x 2000 calls): 1 row 0.42 vs 8.5 us,
  /// 8 rows 3.3 vs 10.6 us, 32 rows 13.5 vs 15.5 us, 48 rows 21 vs 19 us,
  /// 64 rows 27 vs 22 us.
  static constexpr std::int64_t kDirectRows = 32;

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

  /// rows x in floats -> rows x out floats into `out`: below kDirectRows
  /// without LibTorch, through oneDNN from kMinRows rows where it has that
  /// path, else ordinary tensors. Returns the
  /// bytes it copied between the caller's memory and LibTorch's tensors.
  /// Thread-safe (the servers call it from several threads); a large batch
  /// after weights_changed() without refresh() is a std::logic_error.
  std::int64_t forward(const float* in, std::int64_t rows, float* out) const {
    if (rows < kDirectRows && m_direct) return forward_direct(in, rows, out);
    return rows >= kMinRows && has_onednn() ? forward_onednn(in, rows, out) : forward_dense(in, rows, out);
  }
  /// Each path at any number of rows (for checks and tests).
  std::int64_t forward_onednn(const float* in, std::int64_t rows, float* out) const;
  std::int64_t forward_dense(const float* in, std::int64_t rows, float* out) const;
  /// Whether the weights and biases are contiguous, which the direct path needs.
  bool has_direct() const { return m_direct; }
  std::int64_t forward_direct(const float* in, std::int64_t rows, float* out) const;

  std::int64_t in_features() const { return m_in; }
  std::int64_t out_features() const { return m_out; }

 private:
  std::vector<torch::Tensor> m_weights_t, m_biases;  ///< views: W^T and b per layer
  std::vector<torch::Tensor> m_onednn_weights;       ///< oneDNN-packed copies of W
  std::vector<std::int64_t> m_widths;                ///< in, then each layer's out
  bool m_onednn = false, m_onednn_stale = false, m_direct = false;
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

/// The values of `kernels` above; whether `kernels` is one.
inline constexpr const char* kKernelChoices = "auto, libtorch";
bool known_kernels(const std::string& kernels);

}  // namespace motifbench::surrogates
