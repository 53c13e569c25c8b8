#include "motifbench/surrogates/local.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "builtin_mlp.hpp"

namespace motifbench::surrogates {
namespace {

std::atomic<int> g_threads{0};

torch::Tensor activate(const torch::Tensor& x, const std::string& act) {
  if (act == "relu") return torch::relu(x);
  if (act == "gelu") return torch::gelu(x);
  return torch::tanh(x);
}

const char* script_activation(const std::string& act) {
  if (act == "relu") return "torch.relu";
  if (act == "gelu") return "torch.gelu";
  return "torch.tanh";
}

class LocalClient final : public SurrogateClient {
 public:
  LocalClient(const SurrogateSpec& spec, const torch::Device& device, const std::string& kernels)
      : m_spec(spec), m_device(device), m_kernels(kernels) {
    if (!known_activation(spec.activation))
      throw std::runtime_error("surrogate activation '" + spec.activation + "' unknown; valid: tanh, relu, gelu");
    if (!spec.path.empty()) {
      load_script(spec.path);
    } else {
      // The initial weights come from LibTorch's global generator, seeded
      // here: one model at a time, so that models made on several threads at
      // once each get the weights of their seed.
      static std::mutex seeded;
      std::lock_guard<std::mutex> lock(seeded);
      torch::manual_seed(spec.seed);
      std::int64_t in = spec.in_features;
      for (std::int64_t h : spec.hidden) {
        m_layers.emplace_back(torch::nn::Linear(in, h));
        in = h;
      }
      m_layers.emplace_back(torch::nn::Linear(in, spec.out_features));
      for (auto& l : m_layers) {
        l->to(m_device);
        for (auto& p : l->parameters()) m_params.push_back(p);
        // A view: the optimizer updates the weights in place, so it stays current.
        m_weights_t.push_back(l->weight.t());
        m_biases.push_back(l->bias);
      }
    }
    if (m_device.is_cpu()) pack();
    m_optimizer = std::make_unique<torch::optim::Adam>(m_params, torch::optim::AdamOptions(spec.learning_rate));
  }

  void infer(const float* in, std::int64_t batch, float* out) override {
    adopt_threads();
    if (!m_device.is_cpu()) {
      // Host buffers, model on a GPU: copy in, infer there, copy out (counted).
      c10::InferenceMode guard;
      const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
      auto x = torch::from_blob(const_cast<float*>(in), {batch, m_spec.in_features}, opts).to(m_device);
      auto r = forward(x);
      torch::from_blob(out, {batch, m_spec.out_features}, opts).copy_(r);  // synchronous: the output is on the host
      m_copied += (x.numel() + r.numel()) * static_cast<std::int64_t>(sizeof(float));
      return;
    }
    if (m_mlp.packed()) {
      // The built-in MLP, as its server runs it (BuiltinMlp).
      if (m_mlp.uses_onednn(batch)) m_mlp.refresh();
      m_copied += m_mlp.forward(in, batch, out);
      return;
    }
    // A user's TorchScript model.
    c10::InferenceMode guard;
    auto x = torch::from_blob(const_cast<float*>(in), {batch, m_spec.in_features}, torch::kFloat32);
    auto r = m_script->forward({x}).toTensor().contiguous();
    if (r.dim() != 2 || r.size(0) != batch || r.size(1) != m_spec.out_features)
      throw std::runtime_error("TorchScript model returned " + shape(r) + ", expected [" + std::to_string(batch) + ", " +
                               std::to_string(m_spec.out_features) + "]");
    std::memcpy(out, r.data_ptr<float>(), static_cast<std::size_t>(r.numel()) * sizeof(float));
    m_copied += r.numel() * static_cast<std::int64_t>(sizeof(float));
  }

  void infer_device(const float* in, std::int64_t batch, float* out) override {
    if (m_device.is_cpu()) return infer(in, batch, out);
    // The caller's device memory, wrapped: no copy in, and the output layer
    // writes straight into the caller's buffer.
    c10::InferenceMode guard;
    const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(m_device);
    auto x = torch::from_blob(const_cast<float*>(in), {batch, m_spec.in_features}, opts);
    auto y = torch::from_blob(out, {batch, m_spec.out_features}, opts);
    if (m_script) {
      auto r = m_script->forward({x}).toTensor();
      if (r.sizes() != y.sizes()) throw std::runtime_error("TorchScript model returned " + shape(r) + ", expected " + shape(y));
      y.copy_(r);
      m_copied += r.numel() * static_cast<std::int64_t>(sizeof(float));
    } else {
      torch::addmm_out(y, m_layers.back()->bias, hidden(x), m_weights_t.back());
      if (y.data_ptr<float>() != out) throw std::runtime_error("LibTorch did not write the output in place on the device");
    }
    // The caller's next kernel reads `out`: LibTorch's stream must be done.
    torch::cuda::synchronize(m_device.index());
  }

  MemorySpace memory_space() const override { return m_device.is_cuda() ? MemorySpace::Cuda : MemorySpace::Host; }

  TrainReport train(const float* xs, const float* ys, std::int64_t n, const TrainOptions& opt) override {
    TrainReport rep;
    if (n <= 0) return rep;
    adopt_threads();
    m_mlp.weights_changed();  // in place: oneDNN's copies are packed again before the next large batch
    auto x = torch::from_blob(const_cast<float*>(xs), {n, m_spec.in_features}, torch::kFloat32);
    auto y = torch::from_blob(const_cast<float*>(ys), {n, m_spec.out_features}, torch::kFloat32);
    if (!m_device.is_cpu()) {
      x = x.to(m_device);
      y = y.to(m_device);
      m_copied += (x.numel() + y.numel()) * static_cast<std::int64_t>(sizeof(float));
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(opt.seed);
    const std::int64_t bs = std::max<std::int64_t>(1, std::min(opt.batch_size, n));
    for (std::int64_t e = 0; e < opt.epochs; ++e) {
      std::shuffle(order.begin(), order.end(), rng);
      auto idx = torch::from_blob(order.data(), {n}, torch::kInt64).to(m_device);
      double sum = 0;
      std::int64_t batches = 0;
      for (std::int64_t b = 0; b < n; b += bs) {
        auto sel = idx.slice(0, b, std::min(n, b + bs));
        auto xb = x.index_select(0, sel);
        auto yb = y.index_select(0, sel);
        m_optimizer->zero_grad();
        auto loss = torch::mse_loss(forward(xb), yb);
        loss.backward();
        if (opt.reducer != nullptr && opt.reducer->world_size() > 1) average_gradients(*opt.reducer);
        m_optimizer->step();
        sum += loss.item<double>();
        ++batches;
      }
      double mean = sum / static_cast<double>(batches);
      if (e == 0) rep.loss_first = mean;
      rep.loss_last = mean;
      rep.samples_trained += n;
    }
    return rep;
  }

  void save(const std::string& path) override {
    if (m_script) {
      m_script->save(path);
      return;
    }
    torch::jit::Module m("motifbench_mlp");
    std::ostringstream src;
    src << "def forward(self, x):\n    h = x\n";
    for (std::size_t i = 0; i < m_layers.size(); ++i) {
      // On the host, so that any server (CPU or GPU) can load the file.
      m.register_parameter("w" + std::to_string(i), m_layers[i]->weight.detach().to(torch::kCPU).clone(), false);
      m.register_parameter("b" + std::to_string(i), m_layers[i]->bias.detach().to(torch::kCPU).clone(), false);
      src << "    h = torch.addmm(self.b" << i << ", h, self.w" << i << ".t())\n";
      if (i + 1 < m_layers.size()) src << "    h = " << script_activation(m_spec.activation) << "(h)\n";
    }
    src << "    return h\n";
    m.define(src.str());
    // Marks the built-in MLP: a server runs it as the tight path does (BuiltinMlp).
    m.register_attribute(kActivationAttribute, c10::StringType::get(), m_spec.activation);
    m.save(path);
  }

  std::int64_t bytes_copied() const override { return m_copied; }
  std::int64_t in_features() const override { return m_spec.in_features; }
  std::int64_t out_features() const override { return m_spec.out_features; }
  std::string describe() const override {
    std::ostringstream os;
    os << "in-process LibTorch " << torch_version() << " on " << m_device.str() << " (" << threads() << " threads), "
       << (m_script ? "TorchScript " + m_spec.path : std::string("built-in MLP"));
    if (m_mlp.has_direct()) os << ", direct loops below " << m_mlp.direct_rows() << " rows";
    if (m_mlp.has_blocked()) os << ", blocked sgemm below " << m_mlp.blocked_rows() << " rows";
    if (m_mlp.has_onednn())
      os << ", oneDNN from " << m_mlp.onednn_rows() << " rows on one thread per "
         << BuiltinMlp::kOneDnnFlopsPerThread * 1e-6 << " Mflop of a call"
         << (m_mlp.logistic_tanh() ? " (tanh as 2 sigmoid(2x) - 1)" : "");
    return os.str();
  }

 private:
  static std::string shape(const torch::Tensor& t) {
    std::ostringstream os;
    os << t.sizes();
    return os.str();
  }

  // Inference through the hidden layers on the model's device (the GPU
  // path; on the CPU, BuiltinMlp runs the same loop): one addmm per layer
  // with the weights' transposed views made once, and the activation in
  // place. The same arithmetic as Linear's forward in half the LibTorch
  // calls: at batch 1 the calls are the cost.
  torch::Tensor hidden(const torch::Tensor& x) const { return mlp_hidden(x, m_weights_t, m_biases, m_spec.activation); }

  // The model on a tensor of its device, into a new tensor (autograd as the caller's mode says).
  torch::Tensor forward(const torch::Tensor& x) {
    if (m_script) return m_script->forward({x}).toTensor();
    torch::Tensor h = x;
    for (std::size_t i = 0; i + 1 < m_layers.size(); ++i) h = activate(m_layers[i]->forward(h), m_spec.activation);
    return m_layers.back()->forward(h);
  }

  void load_script(const std::string& path) {
    try {
      m_script = std::make_unique<torch::jit::Module>(torch::jit::load(path, m_device));
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot load TorchScript model '" + path + "': " + first_line(e.what()));
    }
    m_script->train();
    for (const auto& p : m_script->parameters()) {
      p.set_requires_grad(true);
      m_params.push_back(p);
    }
    torch::NoGradGuard ng;
    torch::Tensor probe;
    try {
      probe = m_script->forward({torch::zeros({2, m_spec.in_features}, torch::TensorOptions().device(m_device))}).toTensor();
    } catch (const std::exception& e) {
      throw std::runtime_error("TorchScript model '" + path + "' cannot take input [N, " +
                               std::to_string(m_spec.in_features) + "]: " + first_line(e.what()));
    }
    if (probe.dim() != 2 || probe.size(1) != m_spec.out_features)
      throw std::runtime_error("TorchScript model '" + path + "' returns " + shape(probe) + " for input [2, " +
                               std::to_string(m_spec.in_features) + "]; expected [2, " +
                               std::to_string(m_spec.out_features) + "]");
  }

  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

  // The built-in MLP on the CPU (this client's, or a file save() wrote)
  // packed for BuiltinMlp; a user's TorchScript model is left unpacked.
  void pack() {
    if (!m_script) {
      std::vector<torch::Tensor> w;
      for (auto& l : m_layers) w.push_back(l->weight);
      m_mlp.pack(w, m_biases, m_spec.activation, m_kernels);
      return;
    }
    try {
      pack_builtin_mlp(*m_script, m_mlp, m_kernels);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("TorchScript model '" + m_spec.path + "': " + e.what());
    }
  }

  // Flattens every gradient into one buffer, sums it over the workers and
  // divides by their number: one allreduce per optimizer step.
  void average_gradients(GradientReducer& reducer) {
    std::vector<torch::Tensor> grads;
    for (auto& p : m_params)
      grads.push_back(p.grad().defined() ? p.grad().reshape({-1}) : torch::zeros({p.numel()}, p.options()));
    auto flat = torch::cat(grads).contiguous();
    const bool reducer_on_device = reducer.memory_space() == MemorySpace::Cuda;
    if (reducer_on_device && !flat.is_cuda())
      throw std::runtime_error("the gradient reducer (NCCL) needs the model on a GPU (coupling.device)");
    if (flat.is_cuda() && !reducer_on_device) {
      // MPI on host memory: the gradients go to the host and back (counted).
      auto host = flat.to(torch::kCPU);
      reducer.allreduce_sum(host.data_ptr<float>(), static_cast<std::size_t>(host.numel()));
      flat.copy_(host);
      m_copied += 2 * host.numel() * static_cast<std::int64_t>(sizeof(float));
    } else {
      if (flat.is_cuda()) torch::cuda::synchronize(m_device.index());  // the gradients are computed
      reducer.allreduce_sum(flat.data_ptr<float>(), static_cast<std::size_t>(flat.numel()));
    }
    flat.div_(static_cast<double>(reducer.world_size()));
    std::int64_t off = 0;
    for (auto& p : m_params) {
      const auto n = p.numel();
      if (p.grad().defined()) p.mutable_grad().copy_(flat.slice(0, off, off + n).view_as(p));
      off += n;
    }
  }

  SurrogateSpec m_spec;
  torch::Device m_device;
  std::vector<torch::nn::Linear> m_layers;
  std::vector<torch::Tensor> m_weights_t;  ///< each layer's weight, transposed (views)
  std::vector<torch::Tensor> m_biases;     ///< each layer's bias
  std::unique_ptr<torch::jit::Module> m_script;
  std::vector<torch::Tensor> m_params;
  std::unique_ptr<torch::optim::Adam> m_optimizer;
  std::int64_t m_copied = 0;
  std::string m_kernels;  ///< coupling.kernels
  BuiltinMlp m_mlp;       ///< the built-in MLP's CPU inference
};

}  // namespace

std::unique_ptr<SurrogateClient> make_local_client(const SurrogateSpec& spec, const std::string& device,
                                                   const std::string& kernels) {
  if (const auto why = kernels_error(kernels); !why.empty()) throw std::runtime_error(why);
  std::string why;
  const std::string resolved = resolve_device(device, 0, &why);
  if (resolved.empty()) throw std::runtime_error(why);
  return std::make_unique<LocalClient>(spec, torch::Device(resolved), kernels);
}

std::string resolve_device(const std::string& requested, int local_rank, std::string* why) {
  const int gpus = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (requested == "cpu") return "cpu";
  if (requested == "auto") return gpus > 0 ? "cuda:" + std::to_string(local_rank % gpus) : "cpu";
  const bool cuda_n = requested.rfind("cuda:", 0) == 0 && requested.size() > 5 &&
                      requested.find_first_not_of("0123456789", 5) == std::string::npos && requested.size() < 10;
  if (requested != "cuda" && !cuda_n) {
    *why = "device '" + requested + "' is not valid; valid: auto, cpu, cuda, cuda:N";
    return "";
  }
  if (gpus == 0) {
    *why = "device '" + requested + "': this LibTorch " + torch_version() +
           (at::hasCUDA() ? " sees no GPU" : " was built without CUDA") + "; valid here: auto, cpu";
    return "";
  }
  const int index = requested == "cuda" ? local_rank % gpus : std::stoi(requested.substr(5));
  if (index >= gpus) {
    *why = "device '" + requested + "': LibTorch sees " + std::to_string(gpus) + " GPU(s) (cuda:0 to cuda:" +
           std::to_string(gpus - 1) + ")";
    return "";
  }
  return "cuda:" + std::to_string(index);
}

TorchBuild torch_build() {
  TorchBuild b;
  b.version = torch_version();
  b.cuda = at::hasCUDA();
  b.gpus = b.cuda && torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (b.cuda) {
    const long v = at::detail::getCUDAHooks().versionCUDART();  // e.g. 12010
    b.cuda_version = std::to_string(v / 1000) + "." + std::to_string(v / 10 % 100);
  }
  return b;
}

void set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  try {
    torch::set_num_interop_threads(1);
  } catch (const std::exception&) {
    // Already set (it can only be set once per process); keep the first value.
  }
  // OpenBLAS (LibTorch's BLAS on Debian) has its own pool (whose idle
  // threads sleep: see ensure_runtime_settings); it follows the same
  // setting. No link dependency: found when loaded.
  using SetBlasThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
  g_threads = n;
}

void adopt_threads() {
  thread_local int adopted = 0;
  const int n = g_threads.load();
  if (n <= 0 || adopted == n) return;
  at::init_num_threads();  // LibTorch's count (set_threads') for this thread's OpenMP
  adopted = n;
}

namespace {

// LibTorch's CPU tensors through a cache of freed large blocks, by exact size.
// glibc's posix_memalign(64) cannot reuse a freed block of the same size (the
// alignment asks a few bytes more), so when small allocations sit between
// large ones (an inference server's RPCs), every inference takes fresh heap
// and touches fresh pages: the server ran at half the speed of the same model
// in process, and its heap grew by tens of MB a second. Blocks of at least
// kMinCached bytes are kept (kMaxCached in all) and handed out again for a
// request of the same size; a model's activations have the same sizes from
// call to call.
//
// Every block's context is its data pointer and one deleter frees them all,
// as LibTorch's raw_allocate/raw_deallocate require (its GELU kernel, among
// others, takes scratch memory that way): each block carries its size in a
// header just before the data, so a small block is freed without a lock.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    const c10::Device cpu(c10::DeviceType::CPU);
    void* base = nullptr;
    if (n >= kMinCached) {
      std::lock_guard<std::mutex> lock(s_mutex);
      auto it = s_free.find(n);
      if (it != s_free.end()) {
        base = it->second;
        s_free.erase(it);
        s_cached -= n;
      }
    }
    if (base == nullptr) {
      base = c10::alloc_cpu(n + kHeader);  // 64-byte aligned, so the data is too
      *static_cast<std::size_t*>(base) = n;
    }
    void* p = static_cast<char*>(base) + kHeader;
    return {p, p, &release, cpu};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static void release(void* p) {
    void* base = static_cast<char*>(p) - kHeader;
    const std::size_t n = *static_cast<const std::size_t*>(base);
    if (n >= kMinCached) {
      std::lock_guard<std::mutex> lock(s_mutex);
      if (s_cached + n <= kMaxCached) {
        s_free.emplace(n, base);
        s_cached += n;
        return;
      }
    }
    c10::free_cpu(base);
  }
  static constexpr std::size_t kHeader = 64;  ///< keeps the data 64-byte aligned
  static constexpr std::size_t kMinCached = std::size_t{1} << 20;
  static constexpr std::size_t kMaxCached = std::size_t{1} << 30;
  static std::mutex s_mutex;
  static std::multimap<std::size_t, void*> s_free;  ///< by size: the blocks' bases
  static std::size_t s_cached;
};
std::mutex CachingCpuAllocator::s_mutex;
std::multimap<std::size_t, void*> CachingCpuAllocator::s_free;
std::size_t CachingCpuAllocator::s_cached = 0;

}  // namespace

void use_caching_cpu_allocator() {
  static CachingCpuAllocator allocator;  // lives as long as the tensors it made
  c10::SetCPUAllocator(&allocator, /*priority=*/1);
}

void ensure_runtime_settings(char** argv) {
  bool changed = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) changed |= setenv("OMP_WAIT_POLICY", "passive", 1) == 0;
  // OpenBLAS reads it when it loads: 2^4 cycles of spinning, its minimum.
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) changed |= setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) == 0;
  if (std::getenv("GLIBC_TUNABLES") == nullptr)
    changed |= setenv("GLIBC_TUNABLES",
                      "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296:"
                      "glibc.malloc.arena_max=1",
                      1) == 0;
  if (changed) execv("/proc/self/exe", argv);
  // exec failed (or nothing to do): carry on with what the process has.
  use_caching_cpu_allocator();
}

int threads() { return g_threads > 0 ? g_threads.load() : at::get_num_threads(); }

std::string torch_version() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
#endif
}

}  // namespace motifbench::surrogates
