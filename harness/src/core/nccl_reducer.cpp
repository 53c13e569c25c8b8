#include "core/nccl_reducer.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "core/mpi_session.hpp"

namespace motifbench::detail {
namespace {

// NCCL's C interface, by value (nccl.h: ncclUniqueId is 128 bytes; ncclFloat
// is 7, ncclSum 0; every call returns ncclResult_t, 0 on success).
struct UniqueId {
  char internal[128];
};
using Comm = void*;
using GetUniqueIdFn = int (*)(UniqueId*);
using CommInitRankFn = int (*)(Comm*, int, UniqueId, int);
using AllReduceFn = int (*)(const void*, void*, std::size_t, int, int, Comm, void*);
using CommDestroyFn = int (*)(Comm);
using ErrorStringFn = const char* (*)(int);
using SetDeviceFn = int (*)(int);
using StreamSyncFn = int (*)(void*);
constexpr int kNcclFloat = 7, kNcclSum = 0;

double now_ns_d() {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

class NcclReducer final : public GradientReducer {
 public:
  NcclReducer(const std::string& library, int device, ReducerSink sink) : m_sink(std::move(sink)) {
    m_lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (m_lib == nullptr) throw std::runtime_error("cannot load NCCL (" + library + "): " + dlerror());
    m_get_id = sym<GetUniqueIdFn>(m_lib, "ncclGetUniqueId");
    m_init = sym<CommInitRankFn>(m_lib, "ncclCommInitRank");
    m_allreduce = sym<AllReduceFn>(m_lib, "ncclAllReduce");
    m_destroy = sym<CommDestroyFn>(m_lib, "ncclCommDestroy");
    m_error = reinterpret_cast<ErrorStringFn>(dlsym(m_lib, "ncclGetErrorString"));
    // The CUDA runtime that LibTorch (CUDA) has loaded into this process.
    m_set_device = cuda_sym<SetDeviceFn>("cudaSetDevice");
    m_stream_sync = cuda_sym<StreamSyncFn>("cudaStreamSynchronize");
    if (m_set_device(device) != 0) throw std::runtime_error("cudaSetDevice(" + std::to_string(device) + ") failed");
    UniqueId id{};
    std::string text;
    if (world_rank() == 0) {
      check(m_get_id(&id), "ncclGetUniqueId");
      text.assign(id.internal, sizeof id.internal);
    }
    text = world_bcast_text(text);
    if (text.size() != sizeof id.internal) throw std::runtime_error("NCCL unique id did not reach every rank");
    std::memcpy(id.internal, text.data(), sizeof id.internal);
    m_size = world_size();
    check(m_init(&m_comm, m_size, id, world_rank()), "ncclCommInitRank");
  }
  ~NcclReducer() override {
    if (m_comm != nullptr) m_destroy(m_comm);
    if (m_lib != nullptr) dlclose(m_lib);
  }

  void allreduce_sum(float* data, std::size_t n) override {
    const double t0 = now_ns_d();
    if (m_size > 1) world_barrier();
    const double t1 = now_ns_d();
    check(m_allreduce(data, data, n, kNcclFloat, kNcclSum, m_comm, nullptr), "ncclAllReduce");
    if (m_stream_sync(nullptr) != 0) throw std::runtime_error("cudaStreamSynchronize after ncclAllReduce failed");
    const double t2 = now_ns_d();
    m_sink("straggler_wait", t1 - t0);
    m_sink("allreduce", t2 - t1);
    m_wait_s += (t1 - t0) * 1e-9;
    m_allreduce_s += (t2 - t1) * 1e-9;
  }
  int world_size() const override { return m_size; }
  double allreduce_s() const override { return m_allreduce_s; }
  double straggler_wait_s() const override { return m_wait_s; }
  MemorySpace memory_space() const override { return MemorySpace::Cuda; }

 private:
  template <class F>
  static F sym(void* lib, const char* name) {
    auto f = reinterpret_cast<F>(dlsym(lib, name));
    if (f == nullptr) throw std::runtime_error(std::string("the NCCL library lacks ") + name);
    return f;
  }
  template <class F>
  F cuda_sym(const char* name) {
    if (auto f = reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name))) return f;
    if (auto f = reinterpret_cast<F>(dlsym(m_lib, name))) return f;
    throw std::runtime_error(std::string("no CUDA runtime in this process (") + name +
                             " not found): NCCL needs LibTorch with CUDA");
  }
  void check(int rc, const char* call) const {
    if (rc != 0)
      throw std::runtime_error(std::string(call) + " failed: " + (m_error ? m_error(rc) : std::to_string(rc)));
  }

  ReducerSink m_sink;
  void* m_lib = nullptr;
  GetUniqueIdFn m_get_id = nullptr;
  CommInitRankFn m_init = nullptr;
  AllReduceFn m_allreduce = nullptr;
  CommDestroyFn m_destroy = nullptr;
  ErrorStringFn m_error = nullptr;
  SetDeviceFn m_set_device = nullptr;
  StreamSyncFn m_stream_sync = nullptr;
  Comm m_comm = nullptr;
  int m_size = 1;
  double m_wait_s = 0, m_allreduce_s = 0;
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(const std::string& nccl_library, int device_index,
                                                   ReducerSink sink) {
  return std::make_unique<NcclReducer>(nccl_library, device_index, std::move(sink));
}

}  // namespace motifbench::detail
