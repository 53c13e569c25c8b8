// Surrogate runtime: deterministic init, zero-copy inference, training,
// TorchScript save/load.
#include <gtest/gtest.h>
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"
#include "builtin_mlp.hpp"

namespace motifbench::surrogates {
namespace {

// spec2to1's layers are 16 wide: oneDNN takes batches from this many rows.
constexpr int kOneDnnFrom16 = static_cast<int>(BuiltinMlp::kBlockedRowsTimesWidth / 16);
static_assert(BuiltinMlp::kBlockedMinWidth <= 16 && 16 <= BuiltinMlp::kBlockedMaxWidth, "the blocked path's bound at 16 wide");

SurrogateSpec spec2to1(std::uint64_t seed = 7) {
  SurrogateSpec s;
  s.in_features = 2;
  s.out_features = 1;
  s.hidden = {16, 16};
  s.seed = seed;
  s.learning_rate = 1e-2;
  return s;
}

std::vector<float> inputs(int n) {
  std::vector<float> x(static_cast<std::size_t>(2 * n));
  for (int i = 0; i < n; ++i) {
    x[2 * i] = static_cast<float>(i) / n;
    x[2 * i + 1] = 1.0f - static_cast<float>(i) / n;
  }
  return x;
}

TEST(LocalClient, DeterministicInitFromSeed) {
  auto a = make_local_client(spec2to1(7)), b = make_local_client(spec2to1(7)), c = make_local_client(spec2to1(8));
  auto x = inputs(64);
  std::vector<float> ya(64), yb(64), yc(64);
  a->infer(x.data(), 64, ya.data());
  b->infer(x.data(), 64, yb.data());
  c->infer(x.data(), 64, yc.data());
  EXPECT_EQ(ya, yb);
  EXPECT_NE(ya, yc);
}

TEST(LocalClient, InferenceWritesCallerBufferWithoutCopies) {
  auto m = make_local_client(spec2to1());
  auto x = inputs(1000);
  std::vector<float> y(1000, -12345.0f);
  m->infer(x.data(), 1000, y.data());
  EXPECT_EQ(m->bytes_copied(), 0) << "the tight path must not copy tensor data";
  for (float v : y) EXPECT_NE(v, -12345.0f);
  // Batched calls on sub-ranges of the same buffers give the same answer, up to
  // float rounding: the BLAS may pick another kernel (another summation order)
  // for 500 rows than for 1000, so the tolerance is a few float ulps of the
  // layer sums: 1e-5 absolute + 1e-5 relative. The zero-copy check stays exact.
  std::vector<float> y2(1000);
  m->infer(x.data(), 500, y2.data());
  m->infer(x.data() + 1000, 500, y2.data() + 500);
  for (std::size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y2[i], y[i], 1e-5 + 1e-5 * std::abs(y[i])) << "row " << i;
  EXPECT_EQ(m->bytes_copied(), 0);
}

TEST(LocalClient, TrainingLowersTheLoss) {
  auto m = make_local_client(spec2to1());
  const int n = 512;
  auto x = inputs(n);
  std::vector<float> y(n);
  for (int i = 0; i < n; ++i) y[i] = 0.5f * x[2 * i] * x[2 * i] + 0.2f * x[2 * i + 1];
  auto rep = m->train(x.data(), y.data(), n, TrainOptions{50, 64, 1});
  EXPECT_LT(rep.loss_last, rep.loss_first * 0.1);
  EXPECT_EQ(rep.samples_trained, 50 * n);
  std::vector<float> pred(n);
  m->infer(x.data(), n, pred.data());
  double se = 0;
  for (int i = 0; i < n; ++i) se += (pred[i] - y[i]) * (pred[i] - y[i]);
  EXPECT_LT(se / n, 1e-3);
}

TEST(LocalClient, SavedTorchScriptLoadsAndMatches) {
  auto m = make_local_client(spec2to1());
  std::string path = ::testing::TempDir() + "/motifbench_mlp.pt";
  m->save(path);
  // A plain torch::jit::load works: the file is real TorchScript.
  auto raw = torch::jit::load(path);
  auto x = inputs(32);
  std::vector<float> y(32);
  m->infer(x.data(), 32, y.data());
  auto ty = raw.forward({torch::from_blob(x.data(), {32, 2})}).toTensor();
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(ty[i][0].item<float>(), y[i], 1e-6);
  // And through the surrogate interface, where it can also be trained.
  auto spec = spec2to1();
  spec.path = path;
  auto loaded = make_local_client(spec);
  std::vector<float> y2(32);
  loaded->infer(x.data(), 32, y2.data());
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(y2[i], y[i], 1e-6);
  std::vector<float> target(32, 0.25f);
  auto rep = loaded->train(x.data(), target.data(), 32, TrainOptions{30, 32, 1});
  EXPECT_LT(rep.loss_last, rep.loss_first);
  std::remove(path.c_str());
  // A loaded built-in MLP infers through BuiltinMlp, not TorchScript: its
  // answers, on each of its paths (3, 32 and 4096 rows), follow the training just done, as the
  // trained module's own TorchScript forward gives them (1e-5 absolute +
  // 1e-5 relative: oneDNN's kernels on the large batch).
  loaded->save(path);
  auto trained = torch::jit::load(path);
  std::remove(path.c_str());
  const int n = 2 * kOneDnnFrom16;
  auto xs = inputs(n);
  auto want = trained.forward({torch::from_blob(xs.data(), {n, 2})}).toTensor().contiguous();
  std::vector<float> big(static_cast<std::size_t>(n)), small(32), few(3);
  loaded->infer(xs.data(), n, big.data());
  loaded->infer(xs.data(), 32, small.data());
  // Layers 16 wide: the direct path below 4 rows, the blocked one below 2048.
  static_assert(BuiltinMlp::kDirectRowsBeforeBlocked == 4 && 32 < kOneDnnFrom16, "one call per path");
  loaded->infer(xs.data(), 3, few.data());
  for (int i = 0; i < n; ++i) {
    const float w = want[i][0].item<float>();
    ASSERT_NEAR(big[i], w, 1e-5 + 1e-5 * std::abs(w)) << "row " << i;
    if (i < 32) ASSERT_NEAR(small[i], w, 1e-5 + 1e-5 * std::abs(w)) << "row " << i << ", 32-row call";
    if (i < 3) ASSERT_NEAR(few[i], w, 1e-5 + 1e-5 * std::abs(w)) << "row " << i << ", 3-row call";
  }
  EXPECT_GT(std::abs(small[0] - y2[0]), 1e-6) << "training changed nothing";
}

// The tight path's own layer loop (transposed weight views made once, the
// activation in place) against the saved TorchScript forward of the same
// weights, for each activation, before and after training has changed the
// weights in place: batch 1 and 64 rows (a stated 1e-6, as above).
TEST(LocalClient, InferenceFollowsTrainingForEveryActivation) {
  for (const char* act : {"tanh", "relu", "gelu"}) {
    auto spec = spec2to1();
    spec.activation = act;
    auto m = make_local_client(spec);
    auto x = inputs(64);
    std::vector<float> target(64, 0.25f);
    for (int round = 0; round < 2; ++round) {
      if (round == 1) m->train(x.data(), target.data(), 64, TrainOptions{5, 16, 1});
      const std::string path = ::testing::TempDir() + "/motifbench_mlp_" + act + ".pt";
      m->save(path);
      auto ref = torch::jit::load(path);
      std::remove(path.c_str());
      auto want = ref.forward({torch::from_blob(x.data(), {64, 2})}).toTensor().contiguous();
      std::vector<float> y(64), y1(1);
      m->infer(x.data(), 64, y.data());
      m->infer(x.data() + 2 * 63, 1, y1.data());
      for (int i = 0; i < 64; ++i) EXPECT_NEAR(y[i], want[i][0].item<float>(), 1e-6) << act << " round " << round << " row " << i;
      EXPECT_NEAR(y1[0], want[63][0].item<float>(), 1e-6) << act << " round " << round << " batch 1";
    }
  }
}

// Large CPU batches of the built-in MLP run through oneDNN (BuiltinMlp): the
// same answers as the ordinary-tensor path on the same rows in smaller calls,
// to float rounding (other kernels: 1e-5 absolute + 1e-5 relative), before and
// after training has changed the weights; the copies into and out of oneDNN's
// tensors are counted; the saved model carries its activation, and a loaded
// one (as a server packs it) gives exactly the client's answers, large and
// small batches. Every activation oneDNN runs, and GELU, which it does not
// (the ordinary path at every size).
TEST(LocalClient, LargeBatchesThroughOneDnnGiveTheSameAnswers) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  const int n = 2 * kOneDnnFrom16, chunk = kOneDnnFrom16 / 2;
  for (const char* act : {"tanh", "relu", "gelu"}) {
    const bool onednn = std::string(act) != "gelu";
    EXPECT_EQ(BuiltinMlp::onednn_supports(act), onednn) << act;
    auto spec = spec2to1();
    spec.activation = act;
    auto m = make_local_client(spec);
    EXPECT_EQ(m->describe().find("oneDNN") != std::string::npos, onednn) << m->describe();
    auto x = inputs(n);
    std::vector<float> target(static_cast<std::size_t>(n), 0.25f), before(static_cast<std::size_t>(n));
    for (int round = 0; round < 2; ++round) {
      if (round == 1) m->train(x.data(), target.data(), n, TrainOptions{2, 256, 1});
      std::vector<float> big(static_cast<std::size_t>(n)), small(static_cast<std::size_t>(n));
      const auto copied = m->bytes_copied();
      m->infer(x.data(), n, big.data());
      EXPECT_EQ(m->bytes_copied() - copied, onednn ? std::int64_t{n} * (2 + 2 * 1) * 4 : 0) << act;
      for (int off = 0; off < n; off += chunk) m->infer(x.data() + 2 * off, chunk, small.data() + off);
      EXPECT_EQ(m->bytes_copied() - copied, onednn ? std::int64_t{n} * (2 + 2 * 1) * 4 : 0) << "small calls copy nothing";
      for (int i = 0; i < n; ++i)
        ASSERT_NEAR(big[i], small[i], 1e-5 + 1e-5 * std::abs(small[i])) << act << " round " << round << " row " << i;
      if (round == 0) before = big;
      if (round == 1) EXPECT_NE(big, before) << act << ": the large-batch path must follow training";
    }
    const std::string path = ::testing::TempDir() + "/motifbench_mlp_onednn.pt";
    m->save(path);
    auto raw = torch::jit::load(path);
    std::remove(path.c_str());
    ASSERT_TRUE(raw.hasattr(kActivationAttribute));
    EXPECT_EQ(raw.attr(kActivationAttribute).toStringRef(), act);
    BuiltinMlp mlp;
    ASSERT_TRUE(pack_builtin_mlp(raw, mlp)) << act;
    EXPECT_EQ(mlp.has_onednn(), onednn) << act;
    for (const int rows : {n, 1, 7, chunk}) {
      std::vector<float> want(static_cast<std::size_t>(rows)), got(static_cast<std::size_t>(rows));
      m->infer(x.data(), rows, want.data());
      EXPECT_EQ(mlp.forward(x.data(), rows, got.data()), onednn && rows == n ? std::int64_t{n} * (2 + 2 * 1) * 4 : 0);
      EXPECT_EQ(got, want) << act << ", " << rows << " rows: the loaded model's path is the client's";
    }
  }
}

// coupling.kernels=libtorch: LibTorch's ordinary path at every size, with
// no copy, and the same answers as the default's paths (1e-5 absolute +
// 1e-5 relative: other kernels); an unknown value is refused with the valid
// ones, and a marked file packs the same way.
TEST(LocalClient, KernelsLibTorchRunsTheOrdinaryPathAtEverySize) {
  auto m = make_local_client(spec2to1(), "cpu", "libtorch");
  auto ours = make_local_client(spec2to1());
  const int n = 2 * kOneDnnFrom16;
  auto x = inputs(n);
  for (const int rows : {1, 5, n}) {
    std::vector<float> y(static_cast<std::size_t>(rows)), want(static_cast<std::size_t>(rows));
    m->infer(x.data(), rows, y.data());
    ours->infer(x.data(), rows, want.data());
    for (int i = 0; i < rows; ++i) ASSERT_NEAR(y[i], want[i], 1e-5 + 1e-5 * std::abs(want[i])) << rows << " rows, row " << i;
  }
  EXPECT_EQ(m->bytes_copied(), 0);
  const std::string described = m->describe();
  EXPECT_EQ(described.find("oneDNN"), std::string::npos) << described;
  EXPECT_EQ(described.find("direct loops"), std::string::npos) << described;
  EXPECT_EQ(described.find("blocked"), std::string::npos) << described;
  EXPECT_NE(ours->describe().find("direct loops below 4 rows"), std::string::npos) << ours->describe();
  EXPECT_NE(ours->describe().find("blocked sgemm below 2048 rows"), std::string::npos) << ours->describe();
  if (at::hasMKLDNN()) EXPECT_NE(ours->describe().find("oneDNN from 2048 rows"), std::string::npos) << ours->describe();
  try {
    make_local_client(spec2to1(), "cpu", "blas");
    ADD_FAILURE() << "an unknown kernels value was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("valid: auto, libtorch"), std::string::npos) << e.what();
  }
  const std::string path = ::testing::TempDir() + "/motifbench_mlp_kernels.pt";
  ours->save(path);
  auto raw = torch::jit::load(path);
  std::remove(path.c_str());
  BuiltinMlp mlp;
  ASSERT_TRUE(pack_builtin_mlp(raw, mlp, "libtorch"));
  EXPECT_FALSE(mlp.has_onednn());
  EXPECT_FALSE(mlp.has_direct());
}

// A server (and the tight path) runs the built-in MLP's own kernels only when
// their answers are the TorchScript model's: a file that carries the MLP's
// mark but computes something else is refused when it is loaded, not
// answered wrongly.
TEST(Server, AMarkedModelWhoseCodeIsNotTheMlpIsRefused) {
  std::unique_ptr<InferenceServer> server;
  try {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    server = start_server(o);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no server in this build: " << e.what();
  }
  auto client = make_local_client(spec2to1());
  const std::string path = ::testing::TempDir() + "/motifbench_mlp_served.pt";
  client->save(path);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  EXPECT_NO_THROW(server->load_model("mlp", bytes, 2, 1));

  torch::jit::Module other("motifbench_mlp");
  const std::int64_t shapes[3][2] = {{16, 2}, {16, 16}, {1, 16}};
  for (int i = 0; i < 3; ++i) {
    other.register_parameter("w" + std::to_string(i), torch::full({shapes[i][0], shapes[i][1]}, 0.1f), false);
    other.register_parameter("b" + std::to_string(i), torch::full({shapes[i][0]}, 0.2f), false);
  }
  other.define(
      "def forward(self, x):\n"
      "    h = torch.tanh(torch.addmm(self.b0, x, self.w0.t()))\n"
      "    h = torch.tanh(torch.addmm(self.b1, h, self.w1.t()))\n"
      "    return 2.0 * torch.addmm(self.b2, h, self.w2.t())\n");
  other.register_attribute(kActivationAttribute, c10::StringType::get(), std::string("tanh"));
  std::ostringstream os;
  other.save(os);
  try {
    server->load_model("impostor", os.str(), 2, 1);
    ADD_FAILURE() << "a model whose answers differ from the MLP's must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("path disagrees with TorchScript"), std::string::npos) << e.what();
  }
  server->shutdown();
  server->wait();
  // The tight path refuses the same file.
  const std::string impostor = ::testing::TempDir() + "/motifbench_mlp_impostor.pt";
  other.save(impostor);
  auto spec = spec2to1();
  spec.path = impostor;
  try {
    make_local_client(spec);
    ADD_FAILURE() << "the tight path must refuse it too";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("path disagrees with TorchScript"), std::string::npos) << e.what();
  }
  std::remove(impostor.c_str());
}

// A module that is not the built-in MLP keeps the TorchScript path.
// The paths by batch and width: the direct loops below 4 rows where the
// blocked path is on (layers up to kBlockedMaxWidth wide), else below
// 2048 / max(w, 64) rows (fewer the wider: addmm catches up sooner), at
// least batch 1; the blocked path below 32768 / max(w, 16) rows; oneDNN
// from there, or from 4096 / w rows for wider layers, with addmm between;
// nothing but addmm with kernels "libtorch". forward() dispatches on those
// bounds: each bound's batch gives exactly the answers of the path that
// takes it.
TEST(BuiltinMlp, PathsByBatchAndWidth) {
  struct Bounds {
    std::int64_t width, direct, blocked, onednn;
  };
  for (const auto& e : std::vector<Bounds>{{16, 4, 2048, 2048}, {64, 4, 512, 512}, {256, 8, 0, 16}, {1024, 2, 0, 4}, {8192, 2, 0, 2}}) {
    std::vector<torch::Tensor> w{torch::randn({e.width, 3}) * 0.3, torch::randn({2, e.width}) * 0.1};
    std::vector<torch::Tensor> b{torch::randn({e.width}), torch::randn({2})};
    BuiltinMlp mlp;
    mlp.pack(w, b, "tanh");
    mlp.refresh();
    EXPECT_EQ(mlp.direct_rows(), e.direct) << "width " << e.width;
    EXPECT_EQ(mlp.blocked_rows(), e.blocked) << "width " << e.width;
    EXPECT_EQ(mlp.has_blocked(), e.blocked > 0) << "width " << e.width;
    EXPECT_EQ(mlp.onednn_rows(), e.onednn) << "width " << e.width;
    if (e.width > 256) continue;
    using Path = std::int64_t (BuiltinMlp::*)(const float*, std::int64_t, float*) const;
    auto takes = [&](std::int64_t rows, Path path, const char* name) {
      std::vector<float> x(static_cast<std::size_t>(3 * rows)), got(static_cast<std::size_t>(2 * rows)), want(got.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) / 4.0f - 0.5f;
      mlp.forward(x.data(), rows, got.data());
      (mlp.*path)(x.data(), rows, want.data());
      EXPECT_EQ(got, want) << "width " << e.width << ": " << rows << " rows take " << name;
    };
    const bool onednn = mlp.has_onednn();
    EXPECT_EQ(onednn, BuiltinMlp::onednn_supports("tanh"));
    const Path large = onednn ? &BuiltinMlp::forward_onednn : &BuiltinMlp::forward_dense;
    takes(e.direct - 1, &BuiltinMlp::forward_direct, "the direct path");
    if (e.blocked > 0) {
      takes(e.direct, &BuiltinMlp::forward_blocked, "the blocked path");
      takes(e.blocked - 1, &BuiltinMlp::forward_blocked, "the blocked path");
    } else {
      takes(e.direct, &BuiltinMlp::forward_dense, "addmm");
      takes(e.onednn - 1, &BuiltinMlp::forward_dense, "addmm");
    }
    takes(e.onednn, large, onednn ? "oneDNN" : "addmm");
    EXPECT_EQ(mlp.uses_onednn(e.onednn), onednn);
    EXPECT_FALSE(mlp.uses_onednn(e.onednn - 1));
    BuiltinMlp lib;
    lib.pack(w, b, "tanh", "libtorch");
    EXPECT_EQ(lib.direct_rows(), 0);
    EXPECT_FALSE(lib.has_direct());
    EXPECT_FALSE(lib.has_blocked());
    EXPECT_FALSE(lib.has_onednn());
    std::vector<float> x(3 * 8), y(2 * 8);
    EXPECT_THROW(lib.forward_blocked(x.data(), 8, y.data()), std::logic_error);
  }
}

// The blocked path gives the ordinary path's answers (other kernels: 1e-5
// absolute + 1e-5 relative) for every activation, over several blocks and a
// partial one, and follows the weights when they change in place.
TEST(BuiltinMlp, BlockedPathMatchesTheOrdinaryPath) {
  for (const std::int64_t width : {16, 32, 64}) {
    for (const std::string act : {"tanh", "relu", "gelu"}) {
      std::vector<torch::Tensor> w{torch::randn({width, 2}) * 0.5, torch::randn({width, width}) * 0.2,
                                   torch::randn({1, width}) * 0.2};
      std::vector<torch::Tensor> b{torch::randn({width}) * 0.1, torch::randn({width}) * 0.1, torch::randn({1}) * 0.1};
      BuiltinMlp mlp;
      mlp.pack(w, b, act);
      ASSERT_TRUE(mlp.has_blocked());
      const std::int64_t rows = mlp.blocked_rows() - 1;  // the most the path takes
      std::vector<float> x(static_cast<std::size_t>(2 * rows));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) / 6.0f - 1.0f;
      std::vector<float> blocked(static_cast<std::size_t>(rows)), dense(blocked.size()), before;
      for (int round = 0; round < 2; ++round) {
        if (round == 1) {
          torch::NoGradGuard ng;
          w[1].mul_(1.5);  // as a training step would: in place
        }
        EXPECT_EQ(mlp.forward(x.data(), rows, blocked.data()), 0) << "no copy";
        mlp.forward_dense(x.data(), rows, dense.data());
        for (std::int64_t i = 0; i < rows; ++i)
          ASSERT_NEAR(blocked[i], dense[i], 1e-5 + 1e-5 * std::abs(dense[i])) << act << " width " << width << " row " << i;
        if (round == 0) before = blocked;
      }
      EXPECT_NE(blocked, before) << act << ": the blocked path follows the weights";
    }
  }
}

// The servers call forward() from several threads at once: every path gives
// each thread the answers it gives alone (the blocked path's buffers are the
// thread's own, and OpenBLAS runs its sgemm calls side by side).
TEST(BuiltinMlp, ConcurrentCallsGiveTheAnswersOfOneCall) {
  std::vector<torch::Tensor> w{torch::randn({16, 2}), torch::randn({16, 16}) * 0.3, torch::randn({1, 16})};
  std::vector<torch::Tensor> b{torch::randn({16}), torch::randn({16}), torch::randn({1})};
  BuiltinMlp mlp;
  mlp.pack(w, b, "tanh");
  mlp.refresh();
  const std::vector<std::int64_t> sizes{1, 3, 100, 1000, mlp.onednn_rows() + 500};  // every path
  const std::int64_t most = sizes.back();
  std::vector<float> x(static_cast<std::size_t>(2 * most));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 11) / 5.0f - 1.0f;
  std::vector<std::vector<float>> want;
  for (const auto rows : sizes) {
    want.emplace_back(static_cast<std::size_t>(rows));
    mlp.forward(x.data(), rows, want.back().data());
  }
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t k = 0; k < sizes.size(); ++k) {
          const std::size_t s = (k + static_cast<std::size_t>(t)) % sizes.size();  // different paths at once
          std::vector<float> got(static_cast<std::size_t>(sizes[s]));
          mlp.forward(x.data(), sizes[s], got.data());
          if (got != want[s]) ++wrong[t];
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

// oneDNN takes one thread per kOneDnnFlopsPerThread of a call, and the
// calling thread keeps its own OpenMP count afterwards.
TEST(BuiltinMlp, OneDnnThreadsFollowTheWork) {
  std::vector<torch::Tensor> w{torch::randn({32, 2}), torch::randn({32, 32}), torch::randn({1, 32})};
  std::vector<torch::Tensor> b{torch::randn({32}), torch::randn({32}), torch::randn({1})};
  BuiltinMlp mlp;
  mlp.pack(w, b, "tanh");
  // 2 x (2 x 32 + 32 x 32 + 32 x 1) = 2240 flops per row.
  const auto rows_for = [](double threads) { return static_cast<std::int64_t>(threads * BuiltinMlp::kOneDnnFlopsPerThread / 2240.0); };
  EXPECT_EQ(mlp.onednn_threads(1, 8), 1);
  EXPECT_EQ(mlp.onednn_threads(rows_for(2) - 1, 8), 1);
  EXPECT_EQ(mlp.onednn_threads(rows_for(2) + 1, 8), 2);
  EXPECT_EQ(mlp.onednn_threads(rows_for(5) + 1, 8), 5);
  EXPECT_EQ(mlp.onednn_threads(rows_for(100), 8), 8) << "never more than the run's threads";
  EXPECT_EQ(mlp.onednn_threads(rows_for(100), 0), 1);
  if (!mlp.has_onednn()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  mlp.refresh();
  const int keep = threads();
  set_threads(2);
  const std::int64_t rows = mlp.onednn_rows();  // one thread's work
  ASSERT_EQ(mlp.onednn_threads(rows, at::get_num_threads()), 1);
  std::vector<float> x(static_cast<std::size_t>(2 * rows), 0.25f), y(static_cast<std::size_t>(rows));
  mlp.forward_onednn(x.data(), rows, y.data());
  EXPECT_EQ(at::get_num_threads(), 2) << "the calling thread's count comes back";
  set_threads(keep);
}

// A NaN in the input stays a NaN through ReLU on every path, as in LibTorch.
TEST(BuiltinMlp, ReluKeepsNaNOnEveryPath) {
  std::vector<torch::Tensor> w{torch::ones({4, 2}), torch::ones({1, 4})}, b{torch::zeros({4}), torch::zeros({1})};
  BuiltinMlp mlp;
  mlp.pack(w, b, "relu");
  ASSERT_TRUE(mlp.has_direct());
  const float x[2] = {std::nanf(""), 1.0f};
  float direct = 0, dense = 0, blocked = 0;
  mlp.forward_direct(x, 1, &direct);
  mlp.forward_dense(x, 1, &dense);
  mlp.forward_blocked(x, 1, &blocked);
  EXPECT_TRUE(std::isnan(dense));
  EXPECT_TRUE(std::isnan(direct));
  EXPECT_TRUE(std::isnan(blocked));
}

TEST(BuiltinMlp, OnlyTheBuiltInMlpIsPacked) {
  torch::jit::Module m("other");
  m.register_parameter("w0", torch::ones({1, 2}), false);
  m.register_parameter("b0", torch::zeros({1}), false);
  m.define("def forward(self, x):\n    return torch.addmm(self.b0, x, self.w0.t())\n");
  BuiltinMlp mlp;
  EXPECT_FALSE(pack_builtin_mlp(m, mlp)) << "no activation attribute";
  m.register_attribute(kActivationAttribute, c10::StringType::get(), std::string("sigmoid"));
  EXPECT_FALSE(pack_builtin_mlp(m, mlp)) << "an activation the built-in MLP does not have";
  EXPECT_FALSE(mlp.packed());
  EXPECT_THROW(mlp.forward(nullptr, 0, nullptr), std::logic_error);
}

TEST(LocalClient, BadModelFileIsAClearError) {
  auto spec = spec2to1();
  spec.path = "/nonexistent/model.pt";
  try {
    make_local_client(spec);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot load TorchScript model"), std::string::npos) << e.what();
  }
  // Shape mismatch: a 3-input model given where 2 inputs are expected.
  SurrogateSpec three = spec2to1();
  three.in_features = 3;
  auto m3 = make_local_client(three);
  std::string path = ::testing::TempDir() + "/motifbench_mlp3.pt";
  m3->save(path);
  spec.path = path;
  EXPECT_THROW(make_local_client(spec), std::runtime_error);
  std::remove(path.c_str());
}

TEST(Runtime, ThreadsAreExplicit) {
  set_threads(1);
  EXPECT_EQ(threads(), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_FALSE(torch_version().empty());
}

// OpenMP's thread count is per thread, and oneDNN takes it as it finds it: a
// thread that did not call set_threads() (a server's gRPC threads) must run
// a model on set_threads()' count, not one per core.
TEST(Runtime, EveryThreadThatInfersUsesTheSetCount) {
  using OmpMax = int (*)();
  const auto omp_max = reinterpret_cast<OmpMax>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  if (omp_max == nullptr) GTEST_SKIP() << "this LibTorch has no OpenMP";
  // A count that no new thread gets by default (one per core, or OMP_NUM_THREADS).
  int fresh = 0;
  std::thread([&] { fresh = omp_max(); }).join();
  const int wanted = fresh + 1;
  set_threads(wanted);
  auto client = make_local_client(spec2to1());
  const std::int64_t rows = kOneDnnFrom16;  // the oneDNN path where there is one
  std::vector<float> x(static_cast<std::size_t>(rows * 2), 0.25f), y(static_cast<std::size_t>(rows));
  int before = 0, after_infer = 0, after_train = 0;
  std::thread([&] {
    before = omp_max();
    client->infer(x.data(), rows, y.data());
    after_infer = omp_max();
  }).join();
  std::thread([&] {
    TrainOptions opt;
    opt.epochs = 1;
    client->train(x.data(), y.data(), 64, opt);
    after_train = omp_max();
  }).join();
  set_threads(1);
  EXPECT_EQ(before, fresh) << "set_threads() does not reach a new thread by itself";
  EXPECT_EQ(after_infer, wanted);
  EXPECT_EQ(after_train, wanted);
}

}  // namespace
}  // namespace motifbench::surrogates

namespace motifbench::surrogates {
namespace {

// coupling.device and serve --device: every malformed or absent device is
// refused with the valid choices; "auto" is a GPU only where LibTorch sees one.
TEST(Device, ResolvesAndRefusesByName) {
  std::string why;
  EXPECT_EQ(resolve_device("cpu", 3, &why), "cpu");
  const TorchBuild build = torch_build();
  if (build.gpus == 0) {
    EXPECT_EQ(resolve_device("auto", 3, &why), "cpu");
    EXPECT_EQ(resolve_device("cuda", 0, &why), "");
    EXPECT_NE(why.find("valid here: auto, cpu"), std::string::npos) << why;
    EXPECT_EQ(resolve_device("cuda:0", 0, &why), "");
  } else {
    EXPECT_EQ(resolve_device("auto", build.gpus + 1, &why), "cuda:" + std::to_string((build.gpus + 1) % build.gpus));
    EXPECT_EQ(resolve_device("cuda:" + std::to_string(build.gpus), 0, &why), "");
    EXPECT_NE(why.find("sees " + std::to_string(build.gpus)), std::string::npos) << why;
  }
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:0:1", ""}) {
    why.clear();
    EXPECT_EQ(resolve_device(bad, 0, &why), "") << bad;
    EXPECT_NE(why.find("valid: auto, cpu, cuda, cuda:N"), std::string::npos) << bad << ": " << why;
  }
  EXPECT_EQ(build.cuda, !build.cuda_version.empty());
}

// A CPU model reads host memory: infer_device() is infer(), with no copy.
TEST(Device, HostModelTakesHostPointersOnTheDevicePath) {
  auto m = make_local_client(spec2to1(), "cpu");
  EXPECT_EQ(m->memory_space(), MemorySpace::Host);
  auto x = inputs(100);
  std::vector<float> a(100), b(100);
  m->infer(x.data(), 100, a.data());
  m->infer_device(x.data(), 100, b.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(m->bytes_copied(), 0);
  EXPECT_NE(m->describe().find("on cpu"), std::string::npos) << m->describe();
}

}  // namespace
}  // namespace motifbench::surrogates
