// The inference server: gRPC (KServe v2 shape) in front of LibTorch models,
// with optional dynamic batching.
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <torch/script.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "inference.grpc.pb.h"
#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"

namespace motifbench::surrogates {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ns_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count();
}

// One hosted model. Inference takes a shared lock, a weight update an
// exclusive one, so updates never race a forward pass.
struct HostedModel {
  std::string name;
  long in = 0, out = 0;
  long version = 0;
  bool identity = false;
  std::unique_ptr<torch::jit::Module> module;
  std::shared_mutex mutex;

  // rows x in floats -> rows x out floats into `dst`.
  void forward(const float* src, long rows, float* dst) {
    if (identity) {
      std::memcpy(dst, src, static_cast<std::size_t>(rows * in) * sizeof(float));
      return;
    }
    c10::InferenceMode guard;
    auto x = torch::from_blob(const_cast<float*>(src), {rows, in}, torch::kFloat32);
    auto y = module->forward({x}).toTensor().contiguous();
    if (y.dim() != 2 || y.size(0) != rows || y.size(1) != out)
      throw std::runtime_error("model returned an unexpected shape");
    std::memcpy(dst, y.data_ptr<float>(), static_cast<std::size_t>(rows * out) * sizeof(float));
  }
};

// Dynamic batching: merges concurrent requests for one model.
class Batcher {
 public:
  Batcher(std::shared_ptr<HostedModel> model, long max_rows, long delay_us)
      : m_model(std::move(model)), m_max_rows(max_rows), m_delay(std::chrono::microseconds(delay_us)),
        m_thread([this] { loop(); }) {}
  ~Batcher() {
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();
  }
  struct Job {
    const float* in;
    long rows;
    float* out;
    Clock::time_point enqueued;
    std::promise<long> done;  // the batch's row count
  };
  long run(const float* in, long rows, float* out, std::int64_t* queue_ns) {
    Job job{in, rows, out, Clock::now(), {}};
    auto fut = job.done.get_future();
    {
      std::lock_guard<std::mutex> l(m_mutex);
      m_queue.push_back(&job);
    }
    m_cv.notify_all();
    long batch = fut.get();
    *queue_ns = m_last_queue_ns;
    return batch;
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
      while (!m_queue.empty() && (jobs.empty() || rows + m_queue.front()->rows <= m_max_rows)) {
        rows += m_queue.front()->rows;
        jobs.push_back(m_queue.front());
        m_queue.pop_front();
      }
      l.unlock();
      m_last_queue_ns = ns_since(jobs.front()->enqueued);
      execute(jobs, rows);
      l.lock();
    }
  }
  long queued_rows() const {
    long r = 0;
    for (auto* j : m_queue) r += j->rows;
    return r;
  }
  void execute(std::vector<Job*>& jobs, long rows) {
    try {
      std::shared_lock<std::shared_mutex> lock(m_model->mutex);
      if (jobs.size() == 1) {
        m_model->forward(jobs[0]->in, rows, jobs[0]->out);
      } else {
        std::vector<float> in(static_cast<std::size_t>(rows * m_model->in)), out(static_cast<std::size_t>(rows * m_model->out));
        long off = 0;
        for (auto* j : jobs) {
          std::memcpy(in.data() + off * m_model->in, j->in, static_cast<std::size_t>(j->rows * m_model->in) * sizeof(float));
          off += j->rows;
        }
        m_model->forward(in.data(), rows, out.data());
        off = 0;
        for (auto* j : jobs) {
          std::memcpy(j->out, out.data() + off * m_model->out, static_cast<std::size_t>(j->rows * m_model->out) * sizeof(float));
          off += j->rows;
        }
      }
      for (auto* j : jobs) j->done.set_value(rows);
    } catch (...) {
      for (auto* j : jobs) j->done.set_exception(std::current_exception());
    }
  }

  std::shared_ptr<HostedModel> m_model;
  long m_max_rows;
  std::chrono::microseconds m_delay;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<Job*> m_queue;
  bool m_stop = false;
  std::atomic<std::int64_t> m_last_queue_ns{0};
  std::thread m_thread;
};

class Service final : public inference::GRPCInferenceService::Service {
 public:
  explicit Service(ServerOptions opt) : m_opt(std::move(opt)) {}

  void load(const std::string& name, const std::string& bytes, long in, long out) {
    auto model = std::make_shared<HostedModel>();
    model->name = name;
    model->in = in;
    model->out = out;
    if (name == "identity" || bytes.empty()) {
      model->identity = true;
      model->out = in;
    } else {
      std::istringstream is(bytes);
      try {
        model->module = std::make_unique<torch::jit::Module>(torch::jit::load(is));
      } catch (const std::exception& e) {
        std::string what = e.what();
        throw std::runtime_error("cannot load TorchScript for model '" + name + "': " + what.substr(0, what.find('\n')));
      }
      model->module->eval();
    }
    std::lock_guard<std::mutex> l(m_models_mutex);
    auto it = m_models.find(name);
    if (it != m_models.end()) {
      // Swap the weights in place under the model's exclusive lock.
      std::unique_lock<std::shared_mutex> w(it->second->mutex);
      it->second->module = std::move(model->module);
      it->second->identity = model->identity;
      it->second->in = model->in;
      it->second->out = model->out;
      ++it->second->version;
      return;
    }
    model->version = 1;
    m_models[name] = model;
    if (m_opt.max_batch_rows > 0)
      m_batchers[name] = std::make_unique<Batcher>(model, m_opt.max_batch_rows, m_opt.max_queue_delay_us);
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
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* q,
                          inference::ModelReadyResponse* r) override {
    r->set_ready(find(q->name()) != nullptr);
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    r->set_name("motifbench-serve");
    r->set_version(m_opt.version + " (libtorch " + torch_version() + ")");
    r->add_extensions("model_repository");
    if (m_opt.max_batch_rows > 0) r->add_extensions("dynamic_batching");
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    auto m = find(q->name());
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

  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* q,
                          inference::ModelInferResponse* r) override {
    const auto t0 = Clock::now();
    auto m = find(q->model_name());
    if (!m) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model '" + q->model_name() + "'");
    if (q->inputs_size() != 1 || q->raw_input_contents_size() != 1 || q->inputs(0).datatype() != "FP32" ||
        q->inputs(0).shape_size() != 2 || q->inputs(0).shape(1) != m->in)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "expected one FP32 input [N, " + std::to_string(m->in) + "] in raw_input_contents");
    const long rows = static_cast<long>(q->inputs(0).shape(0));
    const std::string& raw = q->raw_input_contents(0);
    if (raw.size() != static_cast<std::size_t>(rows * m->in) * sizeof(float))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents size does not match the shape");
    r->set_model_name(m->name);
    r->set_model_version(std::to_string(m->version));
    r->set_id(q->id());
    auto* out = r->add_outputs();
    out->set_name("OUTPUT__0");
    out->set_datatype("FP32");
    out->add_shape(rows);
    out->add_shape(m->out);
    std::string* dst = r->add_raw_output_contents();
    dst->resize(static_cast<std::size_t>(rows * m->out) * sizeof(float));
    std::int64_t queue_ns = 0;
    long batch_rows = rows;
    try {
      auto* batcher = batcher_for(m->name);
      if (batcher != nullptr) {
        batch_rows = batcher->run(reinterpret_cast<const float*>(raw.data()), rows, reinterpret_cast<float*>(dst->data()),
                                  &queue_ns);
      } else {
        std::shared_lock<std::shared_mutex> lock(m->mutex);
        m->forward(reinterpret_cast<const float*>(raw.data()), rows, reinterpret_cast<float*>(dst->data()));
      }
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
    }
    (*r->mutable_parameters())["server_compute_ns"].set_int64_param(ns_since(t0));
    (*r->mutable_parameters())["queue_ns"].set_int64_param(queue_ns);
    (*r->mutable_parameters())["batch_rows"].set_int64_param(batch_rows);
    return grpc::Status::OK;
  }

  grpc::Status RepositoryModelLoad(grpc::ServerContext*, const inference::RepositoryModelLoadRequest* q,
                                   inference::RepositoryModelLoadResponse*) override {
    const auto& p = q->parameters();
    auto get_int = [&](const char* k) -> long {
      auto it = p.find(k);
      return it == p.end() ? 0 : static_cast<long>(it->second.int64_param());
    };
    auto file = p.find("file:model.pt");
    std::string bytes = file == p.end() ? std::string() : file->second.bytes_param();
    // parameters["identity"] = true hosts the null model (output = input) under
    // any name: the transport floor, like LoadGen's null SUT.
    auto identity = p.find("identity");
    if (identity != p.end() && identity->second.bool_param()) {
      load(q->model_name(), "", get_int("in_features"), get_int("in_features"));
      return grpc::Status::OK;
    }
    if (q->model_name() != "identity" && bytes.empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing parameters[\"file:model.pt\"]");
    try {
      load(q->model_name(), bytes, get_int("in_features"), get_int("out_features"));
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    return grpc::Status::OK;
  }

  grpc::Status Echo(grpc::ServerContext*, const inference::EchoRequest* q, inference::EchoResponse* r) override {
    r->set_payload(q->payload());
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<HostedModel> find(const std::string& name) {
    std::lock_guard<std::mutex> l(m_models_mutex);
    auto it = m_models.find(name);
    return it == m_models.end() ? nullptr : it->second;
  }
  Batcher* batcher_for(const std::string& name) {
    std::lock_guard<std::mutex> l(m_models_mutex);
    auto it = m_batchers.find(name);
    return it == m_batchers.end() ? nullptr : it->second.get();
  }

  ServerOptions m_opt;
  std::mutex m_models_mutex;
  std::map<std::string, std::shared_ptr<HostedModel>> m_models;
  std::map<std::string, std::unique_ptr<Batcher>> m_batchers;
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
      b.AddListeningPort(opt.listen, grpc::InsecureServerCredentials());
    } else {
      b.AddListeningPort(opt.listen, grpc::InsecureServerCredentials(), &port);
    }
    b.RegisterService(&m_service);
    b.SetMaxReceiveMessageSize(-1);
    b.SetMaxSendMessageSize(-1);
    grpc::ResourceQuota quota("motifbench-serve");
    quota.SetMaxThreads(std::max(2, opt.grpc_threads + 1));
    b.SetResourceQuota(quota);
    m_server = b.BuildAndStart();
    if (!m_server || (!unix_socket && port == 0))
      throw std::runtime_error("cannot listen on '" + opt.listen + "'");
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
    }
  }
  void wait() override { m_server->Wait(); }

 private:
  Service m_service;
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
  app.add_option("--threads", opt.torch_threads, "LibTorch intra-op threads")->capture_default_str();
  app.add_option("--concurrency", opt.grpc_threads, "requests served concurrently")->capture_default_str();
  app.add_option("--max-batch-rows", opt.max_batch_rows, "dynamic batching: rows per batch (0: off)")
      ->capture_default_str();
  app.add_option("--max-queue-delay-us", opt.max_queue_delay_us, "dynamic batching: longest wait")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
