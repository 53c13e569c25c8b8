// The built-in MLP's CPU inference through LibTorch's oneDNN operators
// (at::mkldnn_linear with prepacked weights, the activation on oneDNN's
// tensors). On large batches it runs 2.3-3x faster than the same layers as
// addmm and tanh on ordinary tensors, mostly because LibTorch's own tanh costs
// about three times glibc's or oneDNN's. The tight path (LocalClient) and the
// server (HostedModel) use the same code for the built-in MLP, so semi-tight
// and tight compare like with like.
//
// oneDNN keeps its own tensors: the input (rows x in floats) is copied into
// one and the output copied out, and the callers count those bytes. Below
// kMinRows the fixed cost per call (oneDNN's primitives) outweighs the gain:
// the callers keep their ordinary-tensor path there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/script.h>

namespace motifbench::surrogates {

class OneDnnMlp {
 public:
  /// Rows below which a call is faster on ordinary tensors: oneDNN costs
  /// about 0.2 ms per call before any row (measured on a 2-core AMD EPYC VM,
  /// layers 2-32-32-1: 1024 rows took 1.5x as long through oneDNN, 2048 rows
  /// 0.85x, 4096 rows 0.6x, 16384 rows 0.35x).
  static constexpr std::int64_t kMinRows = 2048;

  /// Whether this LibTorch has oneDNN and the activation runs on its tensors,
  /// unless the environment says MOTIFBENCH_ONEDNN=0 (LibTorch's ordinary
  /// kernels at every size, in this process and the servers it starts).
  static bool supports(const std::string& activation);

  /// weights[l] is [out x in], biases[l] [out]: dense CPU float tensors
  /// (views of a model's parameters are fine). Packs the weights for oneDNN;
  /// call it again after the parameters change.
  void pack(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
            const std::string& activation);
  bool packed() const { return !m_weights.empty(); }

  /// rows x in floats -> rows x out floats into `out`. Returns the bytes it
  /// copied between the caller's memory and oneDNN's tensors.
  std::int64_t forward(const float* in, std::int64_t rows, float* out) const;

  std::int64_t in_features() const { return m_in; }
  std::int64_t out_features() const { return m_out; }

 private:
  std::vector<torch::Tensor> m_weights, m_biases;  ///< oneDNN-packed weights, dense biases
  std::string m_activation;
  std::int64_t m_in = 0, m_out = 0;
};

/// The built-in MLP as save() writes it: parameters w0, b0, w1, b1, ... and
/// its activation in the attribute kActivationAttribute. Packs `mlp` and
/// returns true for such a module on the CPU whose activation oneDNN runs.
inline constexpr const char* kActivationAttribute = "motifbench_activation";
bool pack_builtin_mlp(const torch::jit::Module& module, OneDnnMlp& mlp);

/// The module's kActivationAttribute where it has one that OneDnnMlp runs,
/// else "".
std::string onednn_activation(const torch::jit::Module& module);

}  // namespace motifbench::surrogates
