#include "onednn_mlp.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <ATen/ATen.h>

namespace motifbench::surrogates {
namespace {

// In place on a oneDNN tensor.
void activate_(at::Tensor& h, const std::string& activation) {
  if (activation == "relu")
    at::relu_(h);
  else
    at::tanh_(h);
}

}  // namespace

bool OneDnnMlp::supports(const std::string& activation) {
  const char* off = std::getenv("MOTIFBENCH_ONEDNN");
  if (off != nullptr && std::string(off) == "0") return false;
  return at::hasMKLDNN() && (activation == "tanh" || activation == "relu");
}

void OneDnnMlp::pack(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
                     const std::string& activation) {
  if (weights.empty() || weights.size() != biases.size())
    throw std::invalid_argument("OneDnnMlp: one bias per weight, at least one layer");
  if (!supports(activation)) throw std::invalid_argument("OneDnnMlp: no oneDNN path for activation " + activation);
  at::NoGradGuard no_grad;
  std::vector<torch::Tensor> w, b;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    w.push_back(weights[l].detach().to(at::kFloat).contiguous().to_mkldnn());
    b.push_back(biases[l].detach().to(at::kFloat).contiguous().clone());
  }
  m_in = weights.front().size(1);
  m_out = weights.back().size(0);
  m_weights = std::move(w);
  m_biases = std::move(b);
  m_activation = activation;
}

std::int64_t OneDnnMlp::forward(const float* in, std::int64_t rows, float* out) const {
  if (!packed()) throw std::logic_error("OneDnnMlp::forward before pack()");
  c10::InferenceMode guard;
  auto h = at::from_blob(const_cast<float*>(in), {rows, m_in}, at::kFloat).to_mkldnn();
  for (std::size_t l = 0; l < m_weights.size(); ++l) {
    h = at::mkldnn_linear(h, m_weights[l], m_biases[l]);
    if (l + 1 < m_weights.size()) activate_(h, m_activation);
  }
  const auto y = h.to_dense();
  std::memcpy(out, y.data_ptr<float>(), static_cast<std::size_t>(rows * m_out) * sizeof(float));
  return (rows * m_in + 2 * rows * m_out) * static_cast<std::int64_t>(sizeof(float));
}

std::string onednn_activation(const torch::jit::Module& module) {
  if (!module.hasattr(kActivationAttribute)) return "";
  const auto act = module.attr(kActivationAttribute);
  return act.isString() && OneDnnMlp::supports(act.toStringRef()) ? act.toStringRef() : "";
}

bool pack_builtin_mlp(const torch::jit::Module& module, OneDnnMlp& mlp) {
  const std::string act = onednn_activation(module);
  if (act.empty()) return false;
  std::vector<torch::Tensor> w, b;
  for (std::size_t l = 0;; ++l) {
    const auto wn = "w" + std::to_string(l), bn = "b" + std::to_string(l);
    if (!module.hasattr(wn) || !module.hasattr(bn)) break;
    const auto wt = module.attr(wn), bt = module.attr(bn);
    if (!wt.isTensor() || !bt.isTensor()) return false;
    w.push_back(wt.toTensor());
    b.push_back(bt.toTensor());
  }
  if (w.empty()) return false;
  for (std::size_t l = 0; l < w.size(); ++l) {
    const auto& wt = w[l];
    if (!wt.device().is_cpu() || wt.scalar_type() != at::kFloat || wt.dim() != 2 || b[l].dim() != 1 ||
        b[l].size(0) != wt.size(0) || (l > 0 && wt.size(1) != w[l - 1].size(0)))
      return false;
  }
  mlp.pack(w, b, act);
  return true;
}

}  // namespace motifbench::surrogates
