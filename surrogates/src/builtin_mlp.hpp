// The built-in MLP's CPU inference, packed once from its weights, so that the
// tight path (LocalClient) and the server (HostedModel) run the same kernels
// at every batch size and semi-tight compares like with like:
//  - small batches (below direct_rows()): no library call at all, the
//    layers row by row on the weights' own memory with glibc's vector
//    tanhf. LibTorch's dispatch (about 1 us per operator here) is most of
//    an addmm call's 5-8.5 us at batch 1; this path takes 0.2-0.7 us.
//  - then, for layers up to kBlockedMaxWidth wide (below blocked_rows()):
//    blocks of rows through every layer on the calling thread, with
//    cblas_sgemm and glibc's vector tanhf, on the weights' own memory; no
//    copy (forward_blocked).
//  - larger batches (from onednn_rows()): LibTorch's oneDNN operators
//    (at::mkldnn_linear with prepacked weights, the activation on oneDNN's
//    tensors, tanh as a sigmoid: logistic_tanh()) where oneDNN runs the
//    activation, on as many OpenMP threads
//    as the call's work pays for (onednn_threads()). On large batches they
//    run 2.3-3x faster than addmm and tanh on ordinary tensors, mostly
//    because LibTorch's own tanh costs about three times glibc's or
//    oneDNN's. oneDNN keeps its own tensors: the input (rows x in floats)
//    is copied into one and the output copied out, and the callers count
//    those bytes.
//  - otherwise (GELU, no oneDNN, wide layers between the direct loops and
//    oneDNN, or kernels "libtorch"), ordinary tensors: one addmm per layer
//    on the weights' transposed views, the activation in place, the output
//    layer written straight into the caller's buffer. No copy, and half the
//    calls of TorchScript's interpreter, which costs more than the
//    arithmetic at small batches (batch 1: about 9 us through TorchScript,
//    5.5 us here).
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
  // The bounds between the paths, measured on a 2-core AMD EPYC VM in a loop
  // of calls (motifbench_bench_tight's BM_BuiltinMlpPaths: 2-w-w-1, tanh,
  // two threads, each path's median; oneDNN then runs on one thread, see
  // kOneDnnFlopsPerThread). w is the widest layer.
  //
  /// The direct path (forward_direct) takes batches of fewer rows than
  /// kDirectRowsBeforeBlocked where the blocked path is on: it beats it at 1
  /// and 2 rows (w 32: 0.36 vs 0.61 us, 0.62 vs 0.69 us; w 64: 0.71 vs 1.51
  /// us) and loses from 4 (w 16: 0.58 vs 0.50 us, w 64: 2.55 vs 1.84 us).
  /// Otherwise fewer than kDirectRowsTimesWidth / max(w, kDirectMinWidth),
  /// at least batch 1: it runs on one thread without BLAS, so the wider the
  /// layers, the sooner addmm catches up (two threads, medians of 5 runs:
  /// w 256 between 4 and 16 rows, 16: 115 vs 83 us; w 1024 beyond batch 2,
  /// batch 1 108 vs 281 us). That gives 16 rows at w 128, 8 at 256, 2 at
  /// 1024.
  static constexpr std::int64_t kDirectRowsBeforeBlocked = 4;
  static constexpr std::int64_t kDirectRowsTimesWidth = 2048, kDirectMinWidth = 64;
  /// The blocked path (forward_blocked) runs blocks of rows through every
  /// layer on the calling thread: cblas_sgemm with the bias as its C
  /// operand, then the activation (glibc's vector tanhf), in buffers that
  /// stay in the caches. A block has kBlasOneThreadMnk / (in x out of the
  /// largest layer) rows, at least one, so that OpenBLAS runs every sgemm on
  /// the calling thread (it splits one only above M x N x K = 65536 x its
  /// GEMM_MULTITHREAD_THRESHOLD, 4 by default). It is on for layers up to
  /// kBlockedMaxWidth wide and takes fewer rows than kBlockedRowsTimesWidth
  /// / max(w, kBlockedMinWidth): 2048 up to w 16, 1024 at 32, 512 at 64.
  /// Against addmm and LibTorch's tanh it took 2.9 vs 13.1 us at 64 rows of
  /// w 16, 10.3 vs 111 us at 256, 39 vs 172 us at 1024; 20.9 vs 122 us at
  /// 256 rows of w 32, 80 vs 260 us at 1024; 52 vs 202 us at 256 rows of w
  /// 64. oneDNN catches up at about 3000 rows of w 16 (2048: 77 vs 97 us;
  /// 4096: 153 vs 138 us), 1500 of w 32 (1024: 80 vs 98 us; 2048: 161 vs
  /// 143 us) and 500 of w 64 (256: 52 vs 82 us; 1024: 206 vs 157 us). At w
  /// 256 blocks of 4 rows made it 4x slower than oneDNN.
  static constexpr std::int64_t kBlasOneThreadMnk = 262144, kBlockedMaxWidth = 64;
  static constexpr std::int64_t kBlockedRowsTimesWidth = 32768, kBlockedMinWidth = 16;
  /// oneDNN takes the batches of at least kOneDnnRowsTimesWidth / w rows
  /// beyond the others' (so from the blocked path's bound up to w 64): on one
  /// thread its fixed cost is about 40 us a call, and from there it beats
  /// addmm (w 64: 64 rows 58 vs 74 us, 32 rows 45 vs 21 us; w 128: 32 rows
  /// 64 vs 94 us, 16 rows 49 vs 24 us; w 256: 16 rows 93 vs 169 us, 8 rows
  /// 83 vs 63 us). That gives 32 rows at w 128, 16 at 256, 4 at 1024.
  static constexpr std::int64_t kOneDnnRowsTimesWidth = 4096;
  /// oneDNN runs on one OpenMP thread per this many flops of the call (the
  /// run's count at most): waking a sleeping worker costs 20-90 us on the
  /// 2-core VM, and the second core's share of the batch then has to cross
  /// to it and back. In Digital Replica (2-32-32-1, 2240 flops per row,
  /// between the steps' other work), two threads against one: 16384 rows
  /// 554-594 vs 578-757 us for the inference step (no faster), and the next
  /// stencil 18-23 us against 10 us; 32400 rows 0.86-0.96 ms against
  /// 1.23-1.55 ms; 65536 rows 1.8-2.0 ms against 3.5-4.1 ms.
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
  /// Whether large batches go through oneDNN, and from how many rows.
  bool has_onednn() const { return m_onednn; }
  std::int64_t onednn_rows() const { return m_onednn_rows; }
  /// Whether forward() runs a batch of `rows` rows through oneDNN (callers
  /// refresh() before it after the weights changed).
  bool uses_onednn(std::int64_t rows) const { return m_onednn && rows >= m_onednn_rows; }
  /// The weights changed in place: oneDNN's copies are out of date until refresh().
  void weights_changed() { m_onednn_stale = m_onednn; }
  /// Packs oneDNN's copies where they are out of date (a few tens of µs:
  /// callers do it before a large batch, not per call).
  void refresh();

  /// rows x in floats -> rows x out floats into `out`: below direct_rows()
  /// row by row, then blocked with sgemm below blocked_rows() where that
  /// path is on, through oneDNN from onednn_rows() where it has that path,
  /// else ordinary tensors. Returns the bytes it copied between the
  /// caller's memory and LibTorch's tensors. Thread-safe (the servers call
  /// it from several threads); a oneDNN batch after weights_changed()
  /// without refresh() is a std::logic_error.
  std::int64_t forward(const float* in, std::int64_t rows, float* out) const {
    if (rows < m_direct_rows) return forward_direct(in, rows, out);
    if (rows < m_blocked_rows) return forward_blocked(in, rows, out);
    return uses_onednn(rows) ? forward_onednn(in, rows, out) : forward_dense(in, rows, out);
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
  /// direct_rows() to fewer than blocked_rows().
  bool has_blocked() const { return m_blocked_rows > 0; }
  std::int64_t blocked_rows() const { return m_blocked_rows; }
  std::int64_t forward_blocked(const float* in, std::int64_t rows, float* out) const;
  /// The OpenMP threads a oneDNN call of `rows` rows runs on, out of
  /// `threads`: one per kOneDnnFlopsPerThread of the call's flops, at least
  /// one.
  int onednn_threads(std::int64_t rows, int threads) const;

  /// The oneDNN path computes tanh as 2 sigmoid(2z) - 1, with the factors
  /// folded into its packed weights and biases (refresh()): oneDNN 2.6's
  /// AVX2 tanh gathers its polynomial's coefficients from a table, and
  /// where gathers are slow (AMD Zen 3: 2.5 ms for 16384 x 32 values on one
  /// thread, against 0.48 ms for its sigmoid and 0.54 ms for glibc's vector
  /// tanhf) it cost most of a forward pass. The sigmoid needs no table.
  bool logistic_tanh() const { return m_activation == "tanh"; }

  std::int64_t in_features() const { return m_in; }
  std::int64_t out_features() const { return m_out; }

 private:
  std::vector<torch::Tensor> m_weights_t, m_biases;  ///< views: W^T and b per layer
  std::vector<torch::Tensor> m_onednn_weights;       ///< oneDNN-packed copies of W (folded, logistic_tanh())
  std::vector<torch::Tensor> m_onednn_biases;        ///< b, folded as the weights are
  std::vector<std::int64_t> m_widths;                ///< in, then each layer's out
  std::int64_t m_widest = 0;                         ///< the largest of m_widths
  bool m_onednn = false, m_onednn_stale = false;
  std::int64_t m_direct_rows = 0;  ///< 0 without the direct path
  std::int64_t m_block_rows = 0;    ///< rows per block of the blocked path
  std::int64_t m_blocked_rows = 0;  ///< 0 without the blocked path
  std::int64_t m_onednn_rows = 0;   ///< the least rows oneDNN takes
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
