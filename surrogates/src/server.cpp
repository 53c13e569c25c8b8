// The inference server: gRPC (KServe v2 shape) in front of LibTorch models,
// with optional dynamic batching.
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <torch/script.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/usage_error.hpp"
#include "coupling/address.hpp"
#include "coupling/poll_plan.hpp"
#include "inference.grpc.pb.h"
#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"
#include "builtin_mlp.hpp"

namespace motifbench::surrogates {
namespace {

using Clock = std::chrono::steady_clock;
using detail::kClientSentNs;
using detail::PollPlan;

std::int64_t steady_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::int64_t ns_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count();
}

// One version of a hosted model. Immutable once built: a reload builds a new
// one and swaps the pointer, and every request holds the version it validated
// against for its whole life, so a reload can never change a shape under it.
struct HostedModel {
  std::string name;
  long in = 0, out = 0;
  long version = 0;
  bool identity = false;
  std::shared_ptr<torch::jit::Module> module;
  /// The built-in MLP on the CPU, run as the tight path runs it.
  std::shared_ptr<BuiltinMlp> mlp;
  torch::Device device{torch::kCPU};  ///< serve --device

  // rows x in floats -> rows x out floats into `dst`. Returns the nanoseconds
  // spent copying between the host and the device (0 on the CPU).
  std::int64_t forward(const float* src, long rows, float* dst) const {
    adopt_threads();  // the server's threads: gRPC's, the batcher's, the stream workers'
    if (identity) {
      std::memcpy(dst, src, static_cast<std::size_t>(rows) * static_cast<std::size_t>(in) * sizeof(float));
      return 0;
    }
    if (mlp) {
      mlp->forward(src, rows, dst);
      return 0;
    }
    c10::InferenceMode guard;
    std::int64_t copy_ns = 0;
    auto x = torch::from_blob(const_cast<float*>(src), {rows, in}, torch::kFloat32);
    if (!device.is_cpu()) {
      const auto t = Clock::now();
      x = x.to(device);
      copy_ns += ns_since(t);
    }
    auto y = module->forward({x}).toTensor();
    if (y.scalar_type() != torch::kFloat32 || y.dim() != 2 || y.size(0) != rows || y.size(1) != out)
      throw std::runtime_error("model returned an unexpected shape or type");
    if (!device.is_cpu()) {
      const auto t = Clock::now();
      y = y.to(torch::kCPU);  // synchronous: waits for the forward pass, then copies
      copy_ns += ns_since(t);
    }
    y = y.contiguous();
    std::memcpy(dst, y.data_ptr<float>(), static_cast<std::size_t>(rows) * static_cast<std::size_t>(out) * sizeof(float));
    return copy_ns;
  }
};
using ModelPtr = std::shared_ptr<const HostedModel>;

// Triton's per-model statistics, kept across versions of a name.
struct ModelStats {
  std::atomic<std::uint64_t> success_count{0}, success_ns{0}, fail_count{0}, fail_ns{0}, queue_count{0}, queue_ns{0},
      infer_count{0}, infer_ns{0}, inference_count{0}, execution_count{0}, last_inference_ms{0};
};

// a * b into out, false on overflow or a negative factor.
bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t& out) {
  if (a < 0 || b < 0) return false;
  return !__builtin_mul_overflow(a, b, &out);
}

// A registered region of a POSIX shared-memory object (Triton's system
// shared-memory extension), mapped once at registration. Requests hold the
// region for their whole life, so an unregister never unmaps under them.
struct ShmRegion {
  std::string name, key;
  std::uint64_t offset = 0, byte_size = 0;
  void* map = nullptr;
  std::size_t map_bytes = 0;
  char* data() const { return static_cast<char*>(map) + offset; }
  ~ShmRegion() {
    if (map != nullptr) ::munmap(map, map_bytes);
  }
};
using RegionPtr = std::shared_ptr<const ShmRegion>;

// Maps [offset, offset + byte_size) of the shared-memory object `key`.
// Throws std::invalid_argument with the reason.
std::shared_ptr<ShmRegion> map_region(const std::string& name, const std::string& key, std::uint64_t offset,
                                      std::uint64_t byte_size) {
  if (name.empty() || name.size() > 256) throw std::invalid_argument("region names are 1 to 256 characters");
  if (key.size() < 2 || key.size() > 255 || key[0] != '/' || key.find('/', 1) != std::string::npos)
    throw std::invalid_argument("key must be a POSIX shared-memory name ('/name', no other '/'), got '" + key + "'");
  std::uint64_t end = 0;
  if (byte_size == 0 || __builtin_add_overflow(offset, byte_size, &end) || end > (1ULL << 40))
    throw std::invalid_argument("offset + byte_size must be in [1, 2^40]");
  const int fd = ::shm_open(key.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) throw std::invalid_argument("cannot open shared memory '" + key + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd);
    throw std::invalid_argument("shared memory '" + key + "' is not owned by the server's user");
  }
  if (static_cast<std::uint64_t>(st.st_size) < end) {
    ::close(fd);
    throw std::invalid_argument("shared memory '" + key + "' holds " + std::to_string(st.st_size) +
                                " bytes; the region needs " + std::to_string(end));
  }
  auto r = std::make_shared<ShmRegion>();
  r->name = name;
  r->key = key;
  r->offset = offset;
  r->byte_size = byte_size;
  r->map_bytes = static_cast<std::size_t>(end);
  r->map = ::mmap(nullptr, r->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (r->map == MAP_FAILED) {
    r->map = nullptr;
    throw std::invalid_argument("cannot map shared memory '" + key + "': " + std::strerror(errno));
  }
  return r;
}

// Dynamic batching: merges concurrent requests for one model name. Only jobs
// against the same model version share a batch.
class Batcher {
 public:
  Batcher(long max_rows, long delay_us)
      : m_max_rows(max_rows), m_delay(std::chrono::microseconds(delay_us)), m_thread([this] { loop(); }) {}
  ~Batcher() {
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();
  }
  // What a job's batch was: its rows, how long the job queued, its
  // host-device copies, and the CPU the batch's forward ended on (-1: unknown).
  struct Batch {
    long rows = 0;
    std::int64_t queue_ns = 0, copy_ns = 0;
    int cpu = -1;
  };
  struct Job {
    ModelPtr model;
    const float* in;
    long rows;
    float* out;
    Clock::time_point enqueued;
    std::promise<Batch> done;
  };
  Batch run(const ModelPtr& model, const float* in, long rows, float* out) {
    Job job{model, in, rows, out, Clock::now(), {}};
    auto fut = job.done.get_future();
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_queue.push_back(&job);
    }
    m_cv.notify_all();
    return fut.get();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(m_mutex);
    while (true) {
      m_cv.wait(l, [&] { return m_stop || !m_queue.empty(); });
      if (m_stop && m_queue.empty()) return;
      auto deadline = m_queue.front()->enqueued + m_delay;
      m_cv.wait_until(l, deadline, [&] { return m_stop || queued_rows() >= m_max_rows; });
      std::vector<Job*> jobs;
      long rows = 0;
      const ModelPtr model = m_queue.front()->model;
      while (!m_queue.empty() && m_queue.front()->model == model &&
             (jobs.empty() || rows + m_queue.front()->rows <= m_max_rows)) {
        rows += m_queue.front()->rows;
        jobs.push_back(m_queue.front());
        m_queue.pop_front();
      }
      l.unlock();
      execute(*model, jobs, rows);
      l.lock();
    }
  }
  long queued_rows() const {
    long r = 0;
    for (auto* j : m_queue) r += j->rows;
    return r;
  }
  // Each job learns its batch (Batch) before its caller wakes.
  static void execute(const HostedModel& m, std::vector<Job*>& jobs, long rows) {
    const auto started = Clock::now();  // each job queued until now
    std::int64_t copy_ns = 0;
    try {
      if (jobs.size() == 1) {
        copy_ns = m.forward(jobs[0]->in, rows, jobs[0]->out);
      } else {
        std::vector<float> in(static_cast<std::size_t>(rows * m.in)), out(static_cast<std::size_t>(rows * m.out));
        long off = 0;
        for (auto* j : jobs) {
          std::memcpy(in.data() + off * m.in, j->in, static_cast<std::size_t>(j->rows * m.in) * sizeof(float));
          off += j->rows;
        }
        copy_ns = m.forward(in.data(), rows, out.data());
        off = 0;
        for (auto* j : jobs) {
          std::memcpy(j->out, out.data() + off * m.out, static_cast<std::size_t>(j->rows * m.out) * sizeof(float));
          off += j->rows;
        }
      }
      const int cpu = sched_getcpu();
      for (auto* j : jobs)
        j->done.set_value(Batch{rows, std::chrono::duration_cast<std::chrono::nanoseconds>(started - j->enqueued).count(),
                                copy_ns, cpu});
    } catch (...) {
      for (auto* j : jobs) j->done.set_exception(std::current_exception());
    }
  }

  long m_max_rows;
  std::chrono::microseconds m_delay;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<Job*> m_queue;
  bool m_stop = false;
  std::thread m_thread;
};

// Admission: at most `slots` inferences compute at once and at most `queue`
// wait; a waiting request leaves when its client cancels or its deadline
// passes. Health and metadata calls never come here.
class Admission {
 public:
  Admission(int slots, int queue) : m_slots(slots), m_queue(queue) {}
  // OK, or the status to answer with.
  grpc::Status enter(grpc::ServerContext* ctx) {
    std::unique_lock<std::mutex> l(m_mutex);
    if (m_active < m_slots) {
      ++m_active;
      return grpc::Status::OK;
    }
    if (m_waiting >= m_queue)
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "server busy: " + std::to_string(m_waiting) + " requests queued (--max-queue " +
                              std::to_string(m_queue) + ")");
    ++m_waiting;
    while (m_active >= m_slots) {
      m_cv.wait_for(l, std::chrono::milliseconds(20));
      if (ctx != nullptr && ctx->IsCancelled()) {
        --m_waiting;
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while queued");
      }
    }
    --m_waiting;
    ++m_active;
    return grpc::Status::OK;
  }
  void leave() {
    {
      std::lock_guard<std::mutex> l(m_mutex);
      --m_active;
    }
    m_cv.notify_one();
  }

 private:
  const int m_slots, m_queue;
  int m_active = 0, m_waiting = 0;
  std::mutex m_mutex;
  std::condition_variable m_cv;
};

// Every method on gRPC's synchronous API but ModelStreamInfer, which
// StreamWorkers serves on the asynchronous one.
using ServiceBase = inference::GRPCInferenceService::WithAsyncMethod_ModelStreamInfer<inference::GRPCInferenceService::Service>;

class Service final : public ServiceBase {
 public:
  explicit Service(ServerOptions opt)
      : m_opt(std::move(opt)), m_admission(std::max(1, m_opt.grpc_threads), std::max(0, m_opt.max_queue)) {}

  // Builds, checks and hosts a model version. Throws std::invalid_argument
  // for a bad model, std::length_error when the model table is full.
  void load(const std::string& name, const std::string& bytes, long in, long out) {
    if (name.empty() || name.size() > 256) throw std::invalid_argument("model names are 1 to 256 characters");
    auto model = std::make_shared<HostedModel>();
    model->name = name;
    const bool identity = name == "identity" || bytes.empty();
    if (in < 1 || in > m_opt.max_features || (!identity && (out < 1 || out > m_opt.max_features)))
      throw std::invalid_argument("in_features and out_features must be in [1, " + std::to_string(m_opt.max_features) +
                                  "], got " + std::to_string(in) + " and " + std::to_string(out));
    model->in = in;
    model->out = identity ? in : out;
    model->identity = identity;
    if (!identity) {
      std::istringstream is(bytes);
      try {
        model->device = torch::Device(m_opt.device);
        model->module = std::make_shared<torch::jit::Module>(torch::jit::load(is, model->device));
        model->module->eval();
        // The built-in MLP runs as the tight path runs it; pack_builtin_mlp
        // checks it against the file's TorchScript forward on two rows.
        auto mlp = std::make_shared<BuiltinMlp>();
        if (model->device.is_cpu() && pack_builtin_mlp(*model->module, *mlp, m_opt.kernels) && mlp->in_features() == in &&
            mlp->out_features() == model->out) {
          model->mlp = std::move(mlp);
        } else {
          // Any other model must do what it declares: two rows in, [2, out] out.
          std::vector<float> x(static_cast<std::size_t>(2 * in)), y(static_cast<std::size_t>(2 * model->out));
          for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) / 3.0f - 1.0f;
          model->forward(x.data(), 2, y.data());
        }
      } catch (const std::exception& e) {
        std::string what = e.what();
        throw std::invalid_argument("model '" + name + "' is not a TorchScript module mapping [N, " +
                                    std::to_string(in) + "] to [N, " + std::to_string(out) +
                                    "]: " + what.substr(0, what.find('\n')));
      }
    }
    std::lock_guard<std::mutex> l(m_models_mutex);
    auto it = m_models.find(name);
    if (it == m_models.end()) {
      if (static_cast<int>(m_models.size()) >= m_opt.max_models)
        throw std::length_error("the server hosts " + std::to_string(m_models.size()) + " models already (--max-models)");
      Entry e;
      e.stats = std::make_shared<ModelStats>();
      if (m_opt.max_batch_rows > 0) e.batcher = std::make_shared<Batcher>(m_opt.max_batch_rows, m_opt.max_queue_delay_us);
      it = m_models.emplace(name, std::move(e)).first;
    }
    model->version = it->second.model ? it->second.model->version + 1 : 1;
    it->second.model = std::move(model);  // requests in flight keep the old version alive
  }

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* r) override {
    r->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* r) override {
    r->set_ready(true);
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* q,
                          inference::ModelReadyResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    r->set_ready(find(q->name()).model != nullptr);
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    r->set_name("motifbench-serve");
    r->set_version(m_opt.version + " (libtorch " + torch_version() + ", " + m_opt.device + ")");
    r->add_extensions("model_repository");
    r->add_extensions("statistics");
    r->add_extensions("system_shared_memory");
    r->add_extensions("streaming");
    if (m_opt.max_batch_rows > 0) r->add_extensions("dynamic_batching");
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    auto m = find(q->name()).model;
    if (!m) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model '" + q->name() + "'");
    r->set_name(m->name);
    r->add_versions(std::to_string(m->version));
    r->set_platform(m->identity ? "identity" : "pytorch_libtorch");
    auto* in = r->add_inputs();
    in->set_name("INPUT__0");
    in->set_datatype("FP32");
    in->add_shape(-1);
    in->add_shape(m->in);
    auto* out = r->add_outputs();
    out->set_name("OUTPUT__0");
    out->set_datatype("FP32");
    out->add_shape(-1);
    out->add_shape(m->out);
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* q,
                          inference::ModelInferResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    return counted_infer(ctx, *q, r);
  }

  // One request of a ModelStreamInfer stream, answered in `r`: a failed
  // request answers with its error and the stream goes on.
  void stream_infer(const inference::ModelInferRequest& q, inference::ModelStreamInferResponse& r) {
    r.Clear();
    // No context for the admission queue: an asynchronous call's cancellation
    // is not known until its next operation completes.
    grpc::Status st = counted_infer(nullptr, q, r.mutable_infer_response());
    if (!st.ok()) {
      r.clear_infer_response();
      r.set_error_message(st.error_message());
    }
  }
  grpc::Status RepositoryModelLoad(grpc::ServerContext* ctx, const inference::RepositoryModelLoadRequest* q,
                                   inference::RepositoryModelLoadResponse*) override {
    if (!authorized(ctx)) return unauthenticated();
    const auto& p = q->parameters();
    auto get_int = [&](const char* k) -> long {
      auto it = p.find(k);
      return it == p.end() ? 0 : static_cast<long>(it->second.int64_param());
    };
    auto file = p.find("file:model.pt");
    std::string bytes = file == p.end() ? std::string() : file->second.bytes_param();
    try {
      // parameters["identity"] = true hosts the null model (output = input)
      // under any name: the transport floor, like LoadGen's null SUT.
      auto identity = p.find("identity");
      if (identity != p.end() && identity->second.bool_param()) {
        load(q->model_name(), "", get_int("in_features"), get_int("in_features"));
        return grpc::Status::OK;
      }
      if (q->model_name() != "identity" && bytes.empty())
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing parameters[\"file:model.pt\"]");
      load(q->model_name(), bytes, get_int("in_features"), get_int("out_features"));
    } catch (const std::length_error& e) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, e.what());
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    return grpc::Status::OK;
  }

  grpc::Status RepositoryIndex(grpc::ServerContext* ctx, const inference::RepositoryIndexRequest*,
                               inference::RepositoryIndexResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    std::lock_guard<std::mutex> l(m_models_mutex);
    for (const auto& [name, e] : m_models) {
      auto* m = r->add_models();
      m->set_name(name);
      m->set_version(std::to_string(e.model->version));
      m->set_state("READY");
    }
    return grpc::Status::OK;
  }

  grpc::Status ModelStatistics(grpc::ServerContext* ctx, const inference::ModelStatisticsRequest* q,
                               inference::ModelStatisticsResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    std::lock_guard<std::mutex> l(m_models_mutex);
    for (const auto& [name, e] : m_models) {
      if (!q->name().empty() && q->name() != name) continue;
      const ModelStats& s = *e.stats;
      auto* m = r->add_model_stats();
      m->set_name(name);
      m->set_version(std::to_string(e.model->version));
      m->set_last_inference(s.last_inference_ms);
      m->set_inference_count(s.inference_count);
      m->set_execution_count(s.execution_count);
      auto* is = m->mutable_inference_stats();
      is->mutable_success()->set_count(s.success_count);
      is->mutable_success()->set_ns(s.success_ns);
      is->mutable_fail()->set_count(s.fail_count);
      is->mutable_fail()->set_ns(s.fail_ns);
      is->mutable_queue()->set_count(s.queue_count);
      is->mutable_queue()->set_ns(s.queue_ns);
      is->mutable_compute_infer()->set_count(s.infer_count);
      is->mutable_compute_infer()->set_ns(s.infer_ns);
    }
    if (!q->name().empty() && r->model_stats_size() == 0)
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model '" + q->name() + "'");
    return grpc::Status::OK;
  }

  grpc::Status SystemSharedMemoryRegister(grpc::ServerContext* ctx, const inference::SystemSharedMemoryRegisterRequest* q,
                                          inference::SystemSharedMemoryRegisterResponse*) override {
    if (!authorized(ctx)) return unauthenticated();
    {
      std::lock_guard<std::mutex> l(m_regions_mutex);
      if (m_regions.count(q->name()) != 0)
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "shared-memory region '" + q->name() + "' is registered");
      if (static_cast<int>(m_regions.size()) >= m_opt.max_shm_regions)
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "the server holds " + std::to_string(m_regions.size()) +
                                " shared-memory regions already (--max-shm-regions)");
    }
    std::shared_ptr<ShmRegion> region;
    try {
      region = map_region(q->name(), q->key(), q->offset(), q->byte_size());
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    std::lock_guard<std::mutex> l(m_regions_mutex);
    if (!m_regions.emplace(q->name(), std::move(region)).second)
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "shared-memory region '" + q->name() + "' is registered");
    return grpc::Status::OK;
  }

  grpc::Status SystemSharedMemoryUnregister(grpc::ServerContext* ctx,
                                            const inference::SystemSharedMemoryUnregisterRequest* q,
                                            inference::SystemSharedMemoryUnregisterResponse*) override {
    if (!authorized(ctx)) return unauthenticated();
    std::lock_guard<std::mutex> l(m_regions_mutex);
    if (q->name().empty())
      m_regions.clear();  // as Triton: no name unregisters every region
    else
      m_regions.erase(q->name());
    return grpc::Status::OK;
  }

  grpc::Status SystemSharedMemoryStatus(grpc::ServerContext* ctx, const inference::SystemSharedMemoryStatusRequest* q,
                                        inference::SystemSharedMemoryStatusResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    std::lock_guard<std::mutex> l(m_regions_mutex);
    for (const auto& [name, region] : m_regions) {
      if (!q->name().empty() && q->name() != name) continue;
      auto& st = (*r->mutable_regions())[name];
      st.set_name(name);
      st.set_key(region->key);
      st.set_offset(region->offset);
      st.set_byte_size(region->byte_size);
    }
    if (!q->name().empty() && r->regions_size() == 0)
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no shared-memory region '" + q->name() + "'");
    return grpc::Status::OK;
  }

  grpc::Status Echo(grpc::ServerContext* ctx, const inference::EchoRequest* q, inference::EchoResponse* r) override {
    if (!authorized(ctx)) return unauthenticated();
    r->set_payload(q->payload());
    return grpc::Status::OK;
  }

 private:
  struct Entry {
    ModelPtr model;
    std::shared_ptr<ModelStats> stats;
    std::shared_ptr<Batcher> batcher;
  };

 public:
  // Constant-time comparison of the bearer token, when one is required.
  bool authorized(grpc::ServerContext* ctx) const {
    if (m_opt.token.empty()) return true;
    if (ctx == nullptr) return false;
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    if (it == md.end()) return false;
    const std::string given(it->second.data(), it->second.size());
    const std::string want = "Bearer " + m_opt.token;
    if (given.size() != want.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ want[i]);
    return diff == 0;
  }
  static grpc::Status unauthenticated() {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this server requires the run's token (authorization: Bearer <token>)");
  }

 private:
  // A tensor's shared-memory reference (Triton's parameters), resolved and
  // checked against the bytes the shape needs. Empty `region` when the tensor
  // names none; otherwise the region is held for the request's life.
  struct ShmRef {
    RegionPtr region;
    char* data = nullptr;
  };
  grpc::Status shm_ref(const google::protobuf::Map<std::string, inference::InferParameter>& p, std::int64_t bytes,
                       const char* what, ShmRef* ref) {
    auto name = p.find("shared_memory_region");
    if (name == p.end()) return grpc::Status::OK;
    auto bad = [&](const std::string& why) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(what) + ": " + why);
    };
    auto off = p.find("shared_memory_offset");
    auto size = p.find("shared_memory_byte_size");
    const std::int64_t offset = off == p.end() ? 0 : off->second.int64_param();
    if (size == p.end() || size->second.int64_param() != bytes)
      return bad("shared_memory_byte_size must be " + std::to_string(bytes) + " for this shape");
    {
      std::lock_guard<std::mutex> l(m_regions_mutex);
      auto it = m_regions.find(name->second.string_param());
      if (it == m_regions.end()) return bad("no shared-memory region '" + name->second.string_param() + "'");
      ref->region = it->second;
    }
    std::int64_t end = 0;
    if (offset < 0 || __builtin_add_overflow(offset, bytes, &end) ||
        static_cast<std::uint64_t>(end) > ref->region->byte_size)
      return bad("offset " + std::to_string(offset) + " + " + std::to_string(bytes) + " bytes lies outside region '" +
                 ref->region->name + "' (" + std::to_string(ref->region->byte_size) + " bytes)");
    ref->data = ref->region->data() + offset;
    return grpc::Status::OK;
  }

  // An inference, counted in the model's statistics (Triton's success and fail).
  grpc::Status counted_infer(grpc::ServerContext* ctx, const inference::ModelInferRequest& q,
                             inference::ModelInferResponse* r) {
    const auto t0 = Clock::now();
    Entry e = find(q.model_name());  // this version, for the whole request
    if (!e.model) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model '" + q.model_name() + "'");
    grpc::Status st = infer(ctx, e, &q, r, t0);
    const auto ns = static_cast<std::uint64_t>(ns_since(t0));
    if (st.ok()) {
      e.stats->success_count++;
      e.stats->success_ns += ns;
    } else {
      e.stats->fail_count++;
      e.stats->fail_ns += ns;
    }
    return st;
  }

  Entry find(const std::string& name) {
    std::lock_guard<std::mutex> l(m_models_mutex);
    auto it = m_models.find(name);
    return it == m_models.end() ? Entry{} : it->second;
  }

  grpc::Status infer(grpc::ServerContext* ctx, const Entry& e, const inference::ModelInferRequest* q,
                     inference::ModelInferResponse* r, Clock::time_point t0) {
    const HostedModel& m = *e.model;
    auto bad = [](const std::string& why) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why); };
    if (q->inputs_size() != 1) return bad("expected exactly one input tensor, got " + std::to_string(q->inputs_size()));
    const auto& input = q->inputs(0);
    if (input.datatype() != "FP32") return bad("expected datatype FP32, got '" + input.datatype() + "'");
    if (input.shape_size() != 2 || input.shape(1) != m.in)
      return bad("expected shape [N, " + std::to_string(m.in) + "] (model version " + std::to_string(m.version) + ")");
    const std::int64_t rows = input.shape(0);
    std::int64_t in_values = 0, out_values = 0, in_bytes = 0, out_bytes = 0;
    if (rows < 1 || !checked_mul(rows, m.in, in_values) || !checked_mul(in_values, 4, in_bytes) ||
        !checked_mul(rows, m.out, out_values) || !checked_mul(out_values, 4, out_bytes) ||
        in_bytes > m_opt.max_message_bytes || out_bytes > m_opt.max_message_bytes)
      return bad("N must be in [1, " + std::to_string(m_opt.max_message_bytes / 4 / std::max(m.in, m.out)) +
                 "] (--max-message-bytes), got " + std::to_string(rows));
    // Data as raw bytes (what motifbench sends) or typed fp32 contents (what
    // official Triton and KServe clients send).
    const float* data = nullptr;
    ShmRef in_ref, out_ref;
    if (auto st = shm_ref(input.parameters(), in_bytes, "input", &in_ref); !st.ok()) return st;
    if (q->outputs_size() > 1) return bad("expected at most one requested output, got " + std::to_string(q->outputs_size()));
    if (q->outputs_size() == 1)
      if (auto st = shm_ref(q->outputs(0).parameters(), out_bytes, "output", &out_ref); !st.ok()) return st;
    if (in_ref.region) {
      if (q->raw_input_contents_size() != 0 || input.contents().fp32_contents_size() != 0)
        return bad("an input in shared memory carries no contents");
      data = reinterpret_cast<const float*>(in_ref.data);
    } else if (q->raw_input_contents_size() == 1 && input.contents().fp32_contents_size() == 0) {
      const std::string& raw = q->raw_input_contents(0);
      if (static_cast<std::int64_t>(raw.size()) != in_bytes)
        return bad("raw_input_contents holds " + std::to_string(raw.size()) + " bytes; the shape needs " +
                   std::to_string(in_bytes));
      data = reinterpret_cast<const float*>(raw.data());
    } else if (q->raw_input_contents_size() == 0) {
      if (input.contents().fp32_contents_size() != in_values)
        return bad("contents.fp32_contents holds " + std::to_string(input.contents().fp32_contents_size()) +
                   " values; the shape needs " + std::to_string(in_values));
      data = input.contents().fp32_contents().data();
    } else {
      return bad("give the input either as one raw_input_contents entry or as contents.fp32_contents");
    }
    grpc::Status admitted = m_admission.enter(ctx);
    if (!admitted.ok()) return admitted;
    struct Leave {
      Admission& a;
      ~Leave() { a.leave(); }
    } leave{m_admission};
    const std::int64_t admission_ns = ns_since(t0);
    r->set_model_name(m.name);
    r->set_model_version(std::to_string(m.version));
    r->set_id(q->id());
    auto* out = r->add_outputs();
    out->set_name("OUTPUT__0");
    out->set_datatype("FP32");
    out->add_shape(rows);
    out->add_shape(m.out);
    float* dst = nullptr;
    if (out_ref.region) {
      // The output goes straight into the client's region; the response says where.
      auto& p = *out->mutable_parameters();
      p["shared_memory_region"].set_string_param(out_ref.region->name);
      p["shared_memory_offset"].set_int64_param(out_ref.data - out_ref.region->data());
      p["shared_memory_byte_size"].set_int64_param(out_bytes);
      dst = reinterpret_cast<float*>(out_ref.data);
    } else {
      std::string* raw = r->add_raw_output_contents();
      raw->resize(static_cast<std::size_t>(out_bytes));
      dst = reinterpret_cast<float*>(raw->data());
    }
    Batcher::Batch done{static_cast<long>(rows)};  // a batch of its own without the batcher
    const auto t_infer = Clock::now();
    try {
      if (e.batcher) {
        done = e.batcher->run(e.model, data, static_cast<long>(rows), dst);
      } else {
        done.copy_ns = m.forward(data, static_cast<long>(rows), dst);
        done.cpu = sched_getcpu();
      }
    } catch (const std::exception& ex) {
      return grpc::Status(grpc::StatusCode::INTERNAL, ex.what());
    }
    auto& s = *e.stats;
    s.infer_count++;
    s.infer_ns += static_cast<std::uint64_t>(ns_since(t_infer));
    s.queue_count++;
    s.queue_ns += static_cast<std::uint64_t>(admission_ns + done.queue_ns);
    s.inference_count += static_cast<std::uint64_t>(rows);
    s.execution_count++;
    s.last_inference_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const auto t_reply = Clock::now();
    (*r->mutable_parameters())["server_compute_ns"].set_int64_param(steady_ns(t_reply) - steady_ns(t0));
    // When the request arrived and the reply left, on the host's monotonic
    // clock: a client on the same host splits the wire time into its two legs.
    (*r->mutable_parameters())["server_received_ns"].set_int64_param(steady_ns(t0));
    (*r->mutable_parameters())["server_replied_ns"].set_int64_param(steady_ns(t_reply));
    (*r->mutable_parameters())["queue_ns"].set_int64_param(done.queue_ns + admission_ns);
    (*r->mutable_parameters())["batch_rows"].set_int64_param(done.rows);
    // The CPU of the thread that ran its forward pass (the batcher's, when it
    // batches), as that pass ended; LibTorch's other threads, if any, are not
    // named. A client on this host counts them: the result's
    // cpu_placement.server_cpus.
    if (done.cpu >= 0) (*r->mutable_parameters())["server_cpu_index"].set_int64_param(done.cpu);
    // Part of server_compute_ns: host <-> device copies (serve --device cuda).
    if (!m.device.is_cpu()) (*r->mutable_parameters())["device_copy_ns"].set_int64_param(done.copy_ns);
    return grpc::Status::OK;
  }

  ServerOptions m_opt;
  Admission m_admission;
  std::mutex m_models_mutex;
  std::map<std::string, Entry> m_models;
  std::mutex m_regions_mutex;
  std::map<std::string, RegionPtr> m_regions;
};

// Only a socket that nobody listens on (left by a killed server) is removed;
// a regular file, a directory, a link or a live server's socket is refused.
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode))
    throw std::runtime_error("refusing to listen on '" + path + "': it exists and is not a socket (remove it yourself)");
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long: '" + path + "'");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  if (live) throw std::runtime_error("refusing to listen on '" + path + "': a server is listening there");
  ::unlink(path.c_str());
}

// serve's signal handling: a handler (not a blocked mask) so that the signal is
// handled whichever thread receives it, OpenBLAS' pool threads (created when
// the library loads, before main) included. The handler only writes a byte.
int g_stop_pipe[2] = {-1, -1};
void on_stop_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  if (::write(g_stop_pipe[1], &b, 1) < 0) _exit(128 + sig);
}

// Unix sockets and loopback addresses: only this host can connect.
bool listens_on_loopback(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) return true;
  const std::string host = detail::split_host_port(listen).bare_host();  // checked by address_problem
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::shared_ptr<grpc::ServerCredentials> credentials(const ServerOptions& opt) {
  if (opt.tls_cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({opt.tls_key_pem, opt.tls_cert_pem});
  return grpc::SslServerCredentials(ssl);
}

// ModelStreamInfer on gRPC's asynchronous API. One thread drives every
// stream's operations on one completion queue; it is the only thread that
// waits in gRPC for them, so it is the one that polls the socket: in gRPC's
// epoll engine any thread blocked in a queue takes turns at polling and hands
// each message over to the queue's owner, which costs a wake-up.
//  - With one stream open (a rank and its own server), that thread computes
//    each request and writes its answer itself, and waits for the next as
//    PollPlan says: it polls its queue for up to `poll_us` when the last
//    request came within twice that (back-to-back calls find it awake), and
//    otherwise sleeps on a timer until shortly before the next is due and
//    polls a window either side (`poll_ahead`), or sleeps until it comes; a
//    client that computes between calls keeps its cores but for the window.
//  - With several streams open, `threads` compute threads take the requests,
//    so different clients' requests compute in parallel, and nothing polls.
//    With one (serve --concurrency 1) there is no compute thread: the queue's
//    thread computes every stream's requests as they come, as it does for
//    one stream. A compute thread would add a hand-off to each request (a
//    wake-up when it waited for one) and a kick of the queue's thread at each
//    answer, for no parallelism: with two streams pipelined, its answers'
//    writes took 39 us (median) against 33 us from the queue's thread, and
//    one request in five to seven found it asleep.
class StreamWorkers {
 public:
  // same_host: the clients share this host's clock (a Unix socket), so a
  // request's kClientSentNs says when it came.
  StreamWorkers(Service& service, grpc::ServerBuilder& b, int threads, int max_streams, long poll_us, bool poll_ahead,
                bool same_host)
      : m_service(service), m_max_streams(max_streams), m_same_host(same_host), m_wait(poll_us * 1000, poll_ahead),
        m_cq(b.AddCompletionQueue()),
        m_compute(threads > 1 ? static_cast<std::size_t>(threads) : 0) {}
  ~StreamWorkers() { stop(); }
  // After the server started.
  void start() {
    post_request();
    m_io = std::thread([this] { loop(); });
    for (auto& t : m_compute) t = std::thread([this] { compute(); });
  }
  // After Server::Shutdown, which cancels every call: no new stream is
  // accepted, and the threads end once every call has finished.
  void stop() {
    bool shut = false;
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_stop = true;
      if (m_pending == 0 && !m_shut) shut = m_shut = true;
    }
    if (shut) m_cq->Shutdown();
    std::lock_guard<std::mutex> j(m_join_mutex);  // shutdown() and wait() may both get here
    if (m_io.joinable()) m_io.join();
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_jobs_done = true;
    }
    m_jobs_cv.notify_all();
    for (auto& t : m_compute)
      if (t.joinable()) t.join();
  }

 private:
  struct Call {
    enum class Step { Accept, Read, Write, Finish };
    Step step = Step::Accept;
    grpc::ServerContext ctx;
    grpc::ServerAsyncReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest> rw{&ctx};
    inference::ModelInferRequest q;
    inference::ModelStreamInferResponse r;
    std::int64_t read_posted_ns = 0;  // PollPlan::now_ns()
  };

  void post_request() {
    {
      std::lock_guard<std::mutex> l(m_mutex);
      if (m_stop) return;
      ++m_pending;  // keeps the queue open until the request returns
    }
    auto* c = new Call;
    m_service.RequestModelStreamInfer(&c->ctx, &c->rw, m_cq.get(), m_cq.get(), c);
  }

  // The next event; with one stream open, waited for as PollPlan says (see
  // above): a read by its plan from when it was posted, any other operation
  // (an answer's write) polled for the window when requests come back to back.
  bool next(void** tag, bool* ok) {
    std::int64_t poll_until = 0;
    if (m_open_io == 1) {
      const std::int64_t now = PollPlan::now_ns();
      const PollPlan::Wait w = m_wait.plan(m_reading ? m_read_posted_ns : now);
      if (m_reading && w.sleep_until_ns > now) m_wait.sleep_until(w.sleep_until_ns);
      if (w.short_wait) {
        poll_until = PollPlan::now_ns() + m_wait.poll_ns();
      } else if (m_reading) {
        poll_until = w.poll_until_ns;
      }
    }
    while (PollPlan::now_ns() < poll_until) {
      switch (m_cq->AsyncNext(tag, ok, gpr_time_0(GPR_CLOCK_MONOTONIC))) {
        case grpc::CompletionQueue::GOT_EVENT: return true;
        case grpc::CompletionQueue::SHUTDOWN: return false;
        case grpc::CompletionQueue::TIMEOUT: break;
      }
    }
    return m_cq->Next(tag, ok);
  }

  void loop() {
    void* tag = nullptr;
    bool ok = false;
    while (next(&tag, &ok)) step(static_cast<Call*>(tag), ok);
  }

  // A request of a stream among several, computed on a compute thread, which
  // then posts the answer (counted as pending since the read returned).
  void compute() {
    while (true) {
      Call* c = nullptr;
      {
        std::unique_lock<std::mutex> l(m_mutex);
        m_jobs_cv.wait(l, [&] { return m_jobs_done || !m_jobs.empty(); });
        if (m_jobs.empty()) return;
        c = m_jobs.front();
        m_jobs.pop_front();
      }
      m_service.stream_infer(c->q, c->r);
      c->rw.Write(c->r, c);
    }
  }

  // One completed operation of a call, and the call's next one. The
  // operation's return and the next one's posting are one step under the
  // lock, so a queue with nothing pending is really done.
  void step(Call* c, bool ok) {
    Call::Step next = Call::Step::Finish;
    grpc::Status finish = grpc::Status::OK;
    bool accepted = false, done = false, queued = false;
    switch (c->step) {
      case Call::Step::Accept:
        if (!ok) {  // the server is shutting down
          done = true;
          break;
        }
        accepted = true;
        if (!m_service.authorized(&c->ctx)) {
          finish = Service::unauthenticated();
        } else if (m_open_io >= m_max_streams) {
          finish = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "server busy: " + std::to_string(m_open_io) +
                                    " ModelStreamInfer streams open (--concurrency + --max-queue)");
        } else {
          next = Call::Step::Read;
        }
        ++m_open_io;  // until its Finish returns
        m_wait.forget();  // another client's requests come at their own pace
        break;
      case Call::Step::Read:
        m_reading = false;
        m_wait.record(c->read_posted_ns, PollPlan::now_ns(), ok ? sent_ns(c->q) : 0);
        if (ok) {
          next = Call::Step::Write;
          if (m_open_io == 1 || m_compute.empty()) {
            m_service.stream_infer(c->q, c->r);
          } else {
            queued = true;
            c->step = Call::Step::Write;  // before a compute thread can post it
          }
        }
        break;
      case Call::Step::Write:
        if (ok) next = Call::Step::Read;
        break;
      case Call::Step::Finish:
        --m_open_io;
        done = true;
        break;
    }
    bool shut = false;
    {
      std::lock_guard<std::mutex> l(m_mutex);
      --m_pending;
      if (!done) ++m_pending;
      if (queued) m_jobs.push_back(c);
      if (m_stop && m_pending == 0 && !m_shut) shut = m_shut = true;
    }
    if (queued) m_jobs_cv.notify_one();
    if (accepted) post_request();
    if (done) {
      delete c;
    } else if (!queued) {
      c->step = next;
      switch (next) {
        case Call::Step::Read:
          c->read_posted_ns = m_read_posted_ns = PollPlan::now_ns();
          m_reading = true;
          c->rw.Read(&c->q, c);
          break;
        case Call::Step::Write:
          c->rw.Write(c->r, c);
          break;
        default:
          c->rw.Finish(finish, c);
          break;
      }
    }
    if (shut) m_cq->Shutdown();
  }

  std::int64_t sent_ns(const inference::ModelInferRequest& q) const {
    if (!m_same_host) return 0;
    const auto it = q.parameters().find(kClientSentNs);
    return it == q.parameters().end() ? 0 : it->second.int64_param();
  }

  Service& m_service;
  const int m_max_streams;
  const bool m_same_host;
  PollPlan m_wait;  // for the next request, with one stream open (loop()'s thread only)
  std::unique_ptr<grpc::ServerCompletionQueue> m_cq;
  std::thread m_io;
  std::vector<std::thread> m_compute;
  std::mutex m_mutex, m_join_mutex;
  std::condition_variable m_jobs_cv;
  std::deque<Call*> m_jobs;  // requests for the compute threads
  bool m_stop = false, m_shut = false, m_jobs_done = false;
  int m_pending = 0;  // operations posted (or queued to compute) and not yet returned
  // The I/O thread's own.
  int m_open_io = 0;  // streams accepted and not finished
  std::int64_t m_read_posted_ns = 0;
  bool m_reading = false;  // a stream's read is posted and has not returned
};

class GrpcServer final : public InferenceServer {
 public:
  explicit GrpcServer(const ServerOptions& opt) : m_service(opt) {
    grpc::ServerBuilder b;
    int port = 0;
    const bool unix_socket = opt.listen.rfind("unix:", 0) == 0;
    if (unix_socket) {
      const std::string path = opt.listen.substr(5);
      remove_stale_socket(path);  // throws for anything but a dead server's socket
      m_socket_path = path;
      b.AddListeningPort(opt.listen, credentials(opt));
    } else {
      b.AddListeningPort(opt.listen, credentials(opt), &port);
    }
    b.RegisterService(&m_service);
    const int slots = std::max(1, opt.grpc_threads);
    m_streams = std::make_unique<StreamWorkers>(m_service, b, slots, slots + std::max(0, opt.max_queue), opt.poll_us,
                                                opt.poll_ahead, unix_socket);
    // Explicit limits: message sizes, and threads for every admitted or queued
    // inference plus headroom, so health checks and refusals always get one.
    const int message_limit = static_cast<int>(std::min<long>(opt.max_message_bytes + (1 << 16), INT32_MAX));
    b.SetMaxReceiveMessageSize(message_limit);
    b.SetMaxSendMessageSize(message_limit);
    grpc::ResourceQuota quota("motifbench-serve");
    quota.SetMaxThreads(std::max(1, opt.grpc_threads) + std::max(0, opt.max_queue) + 16);
    b.SetResourceQuota(quota);
    m_server = b.BuildAndStart();
    if (!m_server || (!unix_socket && port == 0))
      throw std::runtime_error("cannot listen on '" + opt.listen + "'");
    m_streams->start();
    if (unix_socket) {
      m_endpoint = opt.listen;
    } else {
      m_endpoint = opt.listen.substr(0, opt.listen.rfind(':')) + ":" + std::to_string(port);
    }
  }
  ~GrpcServer() override {
    shutdown();
    if (!m_socket_path.empty()) ::unlink(m_socket_path.c_str());
  }
  std::string endpoint() const override { return m_endpoint; }
  void load_model(const std::string& name, const std::string& bytes, long in, long out) override {
    m_service.load(name, bytes, in, out);
  }
  void shutdown() override {
    if (m_server && !m_down) {
      m_down = true;
      m_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
      m_streams->stop();
    }
  }
  void wait() override {
    m_server->Wait();
    m_streams->stop();
  }

 private:
  Service m_service;
  std::unique_ptr<StreamWorkers> m_streams;  // before m_server: destroyed after it
  std::unique_ptr<grpc::Server> m_server;
  std::string m_endpoint, m_socket_path;
  bool m_down = false;
};

}  // namespace

std::unique_ptr<InferenceServer> start_server(const ServerOptions& options) {
  return std::make_unique<GrpcServer>(options);
}

int serve_main(int argc, char** argv, const std::string& version) {
  CLI::App app{"motifbench serve: the surrogate inference server (KServe v2 gRPC shape)"};
  ServerOptions opt;
  opt.version = version;
  app.add_option("--listen", opt.listen, "unix:/path/to.sock or host:port (default loopback, free port)")
      ->capture_default_str();
  app.add_option("--threads", opt.torch_threads, "LibTorch intra-op threads")
      ->capture_default_str()->check(CLI::Range(1, static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  std::string device = "auto";
  app.add_option("--device", device, "where models run: auto (cuda:<local rank> when LibTorch sees a GPU, else cpu), "
                                     "cpu, cuda, cuda:N")
      ->capture_default_str();
  app.add_option("--kernels", opt.kernels,
                 "the built-in MLP on the CPU: auto (row loops for small batches, blocked sgemm for layers up to "
                 "64 wide, oneDNN for larger batches where LibTorch has it, addmm otherwise; the bounds depend "
                 "on the width) or libtorch (addmm at every size)")
      ->capture_default_str()->check(CLI::IsMember(kernel_choices()));
  app.add_option("--concurrency", opt.grpc_threads, "inference requests computed at once")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--poll-us", opt.poll_us,
                 "ModelStreamInfer: poll for the next request this many microseconds before sleeping (0: never)")
      ->capture_default_str()->check(CLI::Range(0L, 100000L));
  std::string poll_ahead = "false";
  app.add_option("--poll-ahead", poll_ahead,
                 "ModelStreamInfer over a Unix socket: when requests come further apart than twice --poll-us, sleep "
                 "on a timer until --poll-us before the next is due and poll from there (false: sleep until it comes)")
      ->capture_default_str()->check(CLI::IsMember({"true", "false"}));
  app.add_option("--max-queue", opt.max_queue, "inference requests waiting for a slot, at most (more: RESOURCE_EXHAUSTED)")
      ->capture_default_str()->check(CLI::Range(0, 65536));
  app.add_option("--max-models", opt.max_models, "distinct model names hosted, at most")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--max-shm-regions", opt.max_shm_regions, "system shared-memory regions registered at once, at most")
      ->capture_default_str()->check(CLI::Range(0, 4096));
  app.add_option("--max-message-bytes", opt.max_message_bytes, "largest request or response, in bytes")
      ->capture_default_str()->check(CLI::Range(1024L, 2000000000L));
  app.add_option("--max-batch-rows", opt.max_batch_rows, "dynamic batching: rows per batch (0: off)")
      ->capture_default_str();
  app.add_option("--max-queue-delay-us", opt.max_queue_delay_us, "dynamic batching: longest wait")
      ->capture_default_str();
  std::string token_file, tls_cert, tls_key;
  bool insecure = false;
  app.add_option("--token-file", token_file,
                 "require the token in this file (owner-only) on every model call; MOTIFBENCH_TOKEN also sets it");
  app.add_option("--tls-cert", tls_cert, "serve TLS only, with this PEM certificate (chain) (needs --tls-key)");
  app.add_option("--tls-key", tls_key, "the certificate's PEM private key (owner-only file)");
  app.add_flag("--insecure-no-token", insecure,
               "listen on a non-loopback address without a token (anyone who reaches it can run and replace models)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return motifbench::detail::usage_error(app, e, "motifbench serve");
  }
  opt.poll_ahead = poll_ahead == "true";
  {
    std::string why;
    const char* local = std::getenv("MOTIFBENCH_LOCAL_RANK");
    opt.device = resolve_device(device, local ? std::atoi(local) : 0, &why);
    if (opt.device.empty()) {
      std::fprintf(stderr, "motifbench serve: error: --device: %s\n", why.c_str());
      return 2;
    }
  }
  if (const char* env = std::getenv("MOTIFBENCH_TOKEN")) opt.token = env;
  if (!token_file.empty()) {
    struct stat st {};
    std::ifstream tf(token_file);
    if (!tf || ::stat(token_file.c_str(), &st) != 0 || (st.st_mode & 077) != 0) {
      std::fprintf(stderr, "motifbench serve: error: --token-file '%s' must be a readable file that only its owner "
                           "can read (chmod 600)\n", token_file.c_str());
      return 2;
    }
    std::getline(tf, opt.token);
    if (opt.token.empty()) {
      std::fprintf(stderr, "motifbench serve: error: --token-file '%s' is empty\n", token_file.c_str());
      return 2;
    }
  }
  if (tls_cert.empty() != tls_key.empty()) {
    std::fprintf(stderr, "motifbench serve: error: --tls-cert and --tls-key go together (both or neither)\n");
    return 2;
  }
  if (!tls_cert.empty()) {
    std::string why;
    if (!read_pem(tls_cert, false, &opt.tls_cert_pem, &why) || !read_pem(tls_key, true, &opt.tls_key_pem, &why)) {
      std::fprintf(stderr, "motifbench serve: error: %s\n", why.c_str());
      return 2;
    }
  }
  if (const std::string why = detail::address_problem(opt.listen, detail::AddressKind::HostPortOrUnix, 0); !why.empty()) {
    std::fprintf(stderr, "motifbench serve: error: --listen: %s\n", why.c_str());
    return 2;
  }
  // The threat model, enforced: beyond this host, a model call needs the token.
  if (!listens_on_loopback(opt.listen)) {
    if (opt.token.empty() && !insecure) {
      std::fprintf(stderr,
                   "motifbench serve: error: refusing to listen on '%s' without a token: anyone who can reach it "
                   "could run and replace models. Give --token-file FILE (or MOTIFBENCH_TOKEN), with --tls-cert and "
                   "--tls-key so that the token does not cross the network in clear text; or listen on loopback "
                   "(127.0.0.1:PORT, [::1]:PORT) or a Unix socket; or pass --insecure-no-token to accept the risk\n",
                   opt.listen.c_str());
      return 2;
    }
    if (!opt.token.empty() && opt.tls_cert_pem.empty())
      std::fprintf(stderr, "motifbench serve: warning: '%s' is not loopback and there is no TLS: the token crosses "
                           "the network in clear text (give --tls-cert and --tls-key)\n", opt.listen.c_str());
  }
  // SIGINT/SIGTERM: stop accepting, drain in-flight requests (1 s bound),
  // remove the socket, exit 0.
  if (::pipe2(g_stop_pipe, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "motifbench serve: error: pipe failed\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  set_threads(opt.torch_threads);
  std::unique_ptr<InferenceServer> server;
  try {
    server = start_server(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "motifbench serve: error: %s\n", e.what());
    return 2;
  }
  std::printf("motifbench serve: listening on %s\n", server->endpoint().c_str());
  std::fflush(stdout);
  std::thread stopper([&] {
    unsigned char b = 0;
    while (::read(g_stop_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
    server->shutdown();
  });
  server->wait();
  // Wake the stopper if the server ended for another reason.
  const unsigned char zero = 0;
  if (::write(g_stop_pipe[1], &zero, 1) < 0) std::perror("motifbench serve: write");
  stopper.join();
  server.reset();  // removes the socket file
  return 0;
}

}  // namespace motifbench::surrogates
