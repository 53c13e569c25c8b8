#include "builtin_mlp.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <cblas.h>
#include <omp.h>

#include <ATen/ATen.h>

#include "motifbench/surrogates/local.hpp"
#include "vector_tanh.hpp"

namespace motifbench::surrogates {

bool known_activation(const std::string& activation) {
  return activation == "tanh" || activation == "relu" || activation == "gelu";
}

torch::Tensor& activate_(torch::Tensor& x, const std::string& activation) {
  if (activation == "relu") return x.relu_();
  if (activation == "gelu") return at::gelu_(x);
  return x.tanh_();
}

torch::Tensor mlp_hidden(const torch::Tensor& x, const std::vector<torch::Tensor>& weights_t,
                         const std::vector<torch::Tensor>& biases, const std::string& activation) {
  torch::Tensor h = x;
  for (std::size_t l = 0; l + 1 < weights_t.size(); ++l) {
    h = at::addmm(biases[l], h, weights_t[l]);
    activate_(h, activation);
  }
  return h;
}

std::string kernels_error(const std::string& kernels) {
  std::string valid;
  for (const auto& k : kernel_choices()) {
    if (k == kernels) return "";
    valid += (valid.empty() ? "" : ", ") + k;
  }
  return "kernels '" + kernels + "' unknown; valid: " + valid;
}

bool BuiltinMlp::onednn_supports(const std::string& activation) {
  return at::hasMKLDNN() && (activation == "tanh" || activation == "relu");
}

void BuiltinMlp::pack(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
                      const std::string& activation, const std::string& kernels) {
  if (const auto why = kernels_error(kernels); !why.empty()) throw std::invalid_argument("BuiltinMlp: " + why);
  if (weights.empty() || weights.size() != biases.size())
    throw std::invalid_argument("BuiltinMlp: one bias per weight, at least one layer");
  if (!known_activation(activation)) throw std::invalid_argument("BuiltinMlp: unknown activation " + activation);
  std::vector<torch::Tensor> wt, b;
  std::vector<std::int64_t> widths{weights.front().size(1)};
  bool direct = true;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    if (weights[l].scalar_type() != at::kFloat || biases[l].scalar_type() != at::kFloat || !weights[l].device().is_cpu())
      throw std::invalid_argument("BuiltinMlp: CPU float weights only");
    wt.push_back(weights[l].detach().t());
    b.push_back(biases[l].detach());
    widths.push_back(weights[l].size(0));
    direct = direct && weights[l].is_contiguous() && biases[l].is_contiguous();
  }
  m_widths = std::move(widths);
  m_widest = *std::max_element(m_widths.begin(), m_widths.end());
  const bool own = kernels == "auto";
  m_in = weights.front().size(1);
  m_out = weights.back().size(0);
  m_flops_per_row = 0;
  std::int64_t largest_layer = 1;  // in x out
  for (std::size_t l = 0; l + 1 < m_widths.size(); ++l) {
    m_flops_per_row += 2.0 * static_cast<double>(m_widths[l] * m_widths[l + 1]);
    largest_layer = std::max(largest_layer, m_widths[l] * m_widths[l + 1]);
  }
  // Blocks whose every sgemm stays on the calling thread in OpenBLAS.
  m_block_rows = std::max<std::int64_t>(1, kBlasOneThreadMnk / largest_layer);
  m_blocked_rows = direct && own && m_widest <= kBlockedMaxWidth
                       ? kBlockedRowsTimesWidth / std::max(m_widest, kBlockedMinWidth)
                       : 0;
  m_direct_rows = !(direct && own) ? 0
                  : m_blocked_rows > 0
                      ? kDirectRowsBeforeBlocked
                      : std::max<std::int64_t>(2, kDirectRowsTimesWidth / std::max(m_widest, kDirectMinWidth));
  m_weights_t = std::move(wt);
  m_biases = std::move(b);
  m_onednn_weights.clear();
  m_onednn_biases.clear();
  m_onednn = own && onednn_supports(activation);
  m_onednn_rows = std::max({m_direct_rows, m_blocked_rows, (kOneDnnRowsTimesWidth + m_widest - 1) / m_widest});
  m_onednn_stale = m_onednn;
  m_activation = activation;
}

void BuiltinMlp::refresh() {
  if (!m_onednn_stale) return;
  at::NoGradGuard no_grad;
  std::vector<torch::Tensor> packed, biases;
  const std::size_t layers = m_weights_t.size();
  for (std::size_t l = 0; l < layers; ++l) {
    torch::Tensor w = m_weights_t[l].t(), b = m_biases[l];
    if (logistic_tanh()) {
      // tanh(z) = 2 sigmoid(2z) - 1: a layer after a hidden one takes
      // s = sigmoid(2z) for h = 2s - 1, so W h + b = (2W) s + (b - W 1), and a
      // hidden layer's pre-activation is doubled.
      if (l > 0) {
        b = b - w.sum(1);
        w = w * 2;
      }
      if (l + 1 < layers) {
        w = w * 2;
        b = b * 2;
      }
    }
    packed.push_back(w.contiguous().to_mkldnn());
    biases.push_back(b.contiguous());
  }
  m_onednn_weights = std::move(packed);
  m_onednn_biases = std::move(biases);
  m_onednn_stale = false;
}

std::int64_t BuiltinMlp::forward_onednn(const float* in, std::int64_t rows, float* out) const {
  if (!has_onednn()) throw std::logic_error("BuiltinMlp::forward_onednn without a oneDNN path");
  if (m_onednn_stale) throw std::logic_error("BuiltinMlp::forward_onednn: the weights changed since refresh()");
  c10::InferenceMode guard;
  // oneDNN takes the calling thread's OpenMP count; fewer threads for this
  // call where the work would not pay for waking them (onednn_threads()).
  const int run = omp_get_max_threads(), use = onednn_threads(rows, run);
  struct Restore {
    int use, run;
    ~Restore() {
      if (use != run) omp_set_num_threads(run);
    }
  } restore{use, run};
  if (use != run) omp_set_num_threads(use);
  auto h = at::from_blob(const_cast<float*>(in), {rows, m_in}, at::kFloat).to_mkldnn();
  for (std::size_t l = 0; l < m_onednn_weights.size(); ++l) {
    h = at::mkldnn_linear(h, m_onednn_weights[l], m_onednn_biases[l]);
    if (l + 1 < m_onednn_weights.size()) logistic_tanh() ? h.sigmoid_() : activate_(h, m_activation);
  }
  const auto y = h.to_dense();
  std::memcpy(out, y.data_ptr<float>(), static_cast<std::size_t>(rows * m_out) * sizeof(float));
  return (rows * m_in + 2 * rows * m_out) * static_cast<std::int64_t>(sizeof(float));
}

std::int64_t BuiltinMlp::forward_dense(const float* in, std::int64_t rows, float* out) const {
  if (!packed()) throw std::logic_error("BuiltinMlp::forward_dense before pack()");
  c10::InferenceMode guard;
  // Wrap the caller's memory; from_blob neither copies nor takes ownership.
  const auto x = at::from_blob(const_cast<float*>(in), {rows, m_in}, at::kFloat);
  auto y = at::from_blob(out, {rows, m_out}, at::kFloat);
  at::addmm_out(y, m_biases.back(), mlp_hidden(x, m_weights_t, m_biases, m_activation), m_weights_t.back());
  if (y.data_ptr<float>() == out) return 0;
  // LibTorch resized instead of writing in place.
  std::memcpy(out, y.data_ptr<float>(), static_cast<std::size_t>(y.numel()) * sizeof(float));
  return y.numel() * static_cast<std::int64_t>(sizeof(float));
}

namespace {

// y = W x + b for one row, W row-major [outs x ins]. Eight partial sums per
// output, which the compiler keeps in vector registers.
void affine_row(const float* w, const float* b, const float* x, std::int64_t ins, std::int64_t outs, float* y) {
  for (std::int64_t o = 0; o < outs; ++o) {
    const float* wr = w + o * ins;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= ins; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += wr[i + k] * x[i + k];
    float s = b[o];
    for (; i < ins; ++i) s += wr[i] * x[i];
    y[o] = s + (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
  }
}

// Two buffers of at least n floats for the hidden layers' activations, the
// calling thread's own (the servers call from several threads).
std::pair<float*, float*> hidden_buffers(std::size_t n) {
  thread_local std::vector<float> a, b;
  if (a.size() < n) {
    a.resize(n);
    b.resize(n);
  }
  return {a.data(), b.data()};
}

void activate_row(float* p, std::int64_t n, const std::string& activation) {
  if (activation == "tanh") return tanh_vector(p, n);
  if (activation == "relu") {
    for (std::int64_t i = 0; i < n; ++i) p[i] = p[i] < 0.0f ? 0.0f : p[i];  // NaN stays NaN, as in LibTorch
    return;
  }
  // LibTorch's default GELU: the exact one, with erf.
  for (std::int64_t i = 0; i < n; ++i) p[i] = 0.5f * p[i] * (1.0f + std::erf(p[i] * 0.70710678f));
}

}  // namespace

std::int64_t BuiltinMlp::forward_direct(const float* in, std::int64_t rows, float* out) const {
  if (!has_direct()) throw std::logic_error("BuiltinMlp::forward_direct without the direct path (kernels, or weights not contiguous)");
  const std::size_t layers = m_weights_t.size();
  const auto [a, b] = hidden_buffers(static_cast<std::size_t>(m_widest));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* src = in + r * m_in;
    for (std::size_t l = 0; l < layers; ++l) {
      const bool last = l + 1 == layers;
      float* dst = last ? out + r * m_out : (l % 2 == 0 ? a : b);
      // m_weights_t[l] is a view of W_l, which is contiguous: its memory is W_l's.
      affine_row(m_weights_t[l].data_ptr<float>(), m_biases[l].data_ptr<float>(), src, m_widths[l], m_widths[l + 1], dst);
      if (!last) activate_row(dst, m_widths[l + 1], m_activation);
      src = dst;
    }
  }
  return 0;
}

int BuiltinMlp::onednn_threads(std::int64_t rows, int threads) const {
  const double by_work = std::floor(static_cast<double>(rows) * m_flops_per_row / kOneDnnFlopsPerThread);
  return static_cast<int>(std::clamp(by_work, 1.0, static_cast<double>(std::max(threads, 1))));
}

std::int64_t BuiltinMlp::forward_blocked(const float* in, std::int64_t rows, float* out) const {
  if (!has_blocked()) throw std::logic_error("BuiltinMlp::forward_blocked without the blocked path (kernels, width, or weights not contiguous)");
  const std::size_t layers = m_weights_t.size();
  const auto [a, b] = hidden_buffers(static_cast<std::size_t>(std::min(rows, m_block_rows) * m_widest));
  for (std::int64_t r0 = 0; r0 < rows; r0 += m_block_rows) {
    const std::int64_t n = std::min(m_block_rows, rows - r0);
    const float* src = in + r0 * m_in;
    for (std::size_t l = 0; l < layers; ++l) {
      const bool last = l + 1 == layers;
      const std::int64_t ins = m_widths[l], outs = m_widths[l + 1];
      float* dst = last ? out + r0 * m_out : (l % 2 == 0 ? a : b);
      // y = x W^T + b: the bias first, then sgemm adds the product (beta 1).
      // m_weights_t[l] is a view of W_l, which is contiguous: its memory is W_l's.
      const float* bias = m_biases[l].data_ptr<float>();
      for (std::int64_t r = 0; r < n; ++r) std::memcpy(dst + r * outs, bias, static_cast<std::size_t>(outs) * sizeof(float));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(outs),
                  static_cast<int>(ins), 1.0f, src, static_cast<int>(ins), m_weights_t[l].data_ptr<float>(),
                  static_cast<int>(ins), 1.0f, dst, static_cast<int>(outs));
      if (!last) activate_row(dst, n * outs, m_activation);
      src = dst;
    }
  }
  return 0;
}

std::string builtin_activation(const torch::jit::Module& module) {
  if (!module.hasattr(kActivationAttribute)) return "";
  const auto act = module.attr(kActivationAttribute);
  return act.isString() && known_activation(act.toStringRef()) ? act.toStringRef() : "";
}

namespace {

// Each packed path must give the module's own answers on a few rows.
void check_against_script(const torch::jit::Module& module, const BuiltinMlp& mlp) {
  const std::int64_t rows = 2, in = mlp.in_features(), out = mlp.out_features();
  std::vector<float> x(static_cast<std::size_t>(rows * in));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) / 3.0f - 1.0f;
  torch::Tensor want;
  {
    c10::InferenceMode guard;
    torch::jit::Module m = module;  // a handle: forward is not const
    want = m.forward({at::from_blob(x.data(), {rows, in}, at::kFloat)}).toTensor().contiguous();
  }
  if (want.scalar_type() != at::kFloat || want.dim() != 2 || want.size(0) != rows || want.size(1) != out)
    throw std::invalid_argument("it carries the built-in MLP's mark but its forward returns another shape");
  const float* w = want.data_ptr<float>();
  auto compare = [&](const char* path, const std::vector<float>& got) {
    for (std::size_t i = 0; i < got.size(); ++i)
      if (!(std::fabs(got[i] - w[i]) <= 1e-4f + 1e-4f * std::fabs(w[i])))
        throw std::invalid_argument(std::string("its ") + path + " path disagrees with TorchScript at row " +
                                    std::to_string(static_cast<std::int64_t>(i) / out) +
                                    " (the file carries the built-in MLP's mark but computes something else)");
  };
  std::vector<float> got(static_cast<std::size_t>(rows * out));
  mlp.forward_dense(x.data(), rows, got.data());
  compare("ordinary-tensor", got);
  if (mlp.has_direct()) {
    mlp.forward_direct(x.data(), rows, got.data());
    compare("direct", got);
  }
  if (mlp.has_blocked()) {
    mlp.forward_blocked(x.data(), rows, got.data());
    compare("blocked BLAS", got);
  }
  if (mlp.has_onednn()) {
    mlp.forward_onednn(x.data(), rows, got.data());
    compare("oneDNN", got);
  }
}

}  // namespace

bool pack_builtin_mlp(const torch::jit::Module& module, BuiltinMlp& mlp, const std::string& kernels) {
  const std::string act = builtin_activation(module);
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
        b[l].scalar_type() != at::kFloat || b[l].size(0) != wt.size(0) || (l > 0 && wt.size(1) != w[l - 1].size(0)))
      return false;
  }
  BuiltinMlp packed;
  packed.pack(w, b, act, kernels);
  packed.refresh();
  check_against_script(module, packed);
  mlp = std::move(packed);
  return true;
}

}  // namespace motifbench::surrogates
