#include "coupling/grpc_client.hpp"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/cpu_placement.hpp"
#include "coupling/poll_plan.hpp"
#include "coupling/services.hpp"
#include "inference.grpc.pb.h"
#include "motifbench/config.hpp"
#include "motifbench/run_context.hpp"
#include "motifbench/surrogates/local.hpp"

namespace motifbench::detail {
namespace {

std::shared_ptr<grpc::Channel> open_channel(const std::string& endpoint, const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Fail fast when a server goes away instead of retrying in the background.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  if (security.ca_pem.empty()) return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = security.ca_pem;
  if (!security.server_name.empty()) args.SetSslTargetNameOverride(security.server_name);
  return grpc::CreateCustomChannel(endpoint, grpc::SslCredentials(ssl), args);
}

std::chrono::system_clock::time_point deadline_after(double s) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(s));
}

std::string status_text(const grpc::Status& s) {
  static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                "UNAUTHENTICATED"};
  int c = static_cast<int>(s.error_code());
  std::string name = c >= 0 && c <= 16 ? names[c] : std::to_string(c);
  return name + ": " + s.error_message();
}

// The run's token, when its servers require one (gRPC metadata, as a bearer token).
void authorize(grpc::ClientContext& ctx, const std::string& token) {
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

// Triton's shared-memory reference in a tensor's parameters.
void reference(google::protobuf::Map<std::string, inference::InferParameter>& p, const std::string& region,
               std::int64_t offset, std::int64_t bytes) {
  p["shared_memory_region"].set_string_param(region);
  p["shared_memory_offset"].set_int64_param(offset);
  p["shared_memory_byte_size"].set_int64_param(bytes);
}

// One owner-only POSIX shared-memory segment that holds a batch's inputs and
// then its outputs, registered with every server as two regions. Its name is
// removed as soon as every server has mapped it, so nothing is left behind
// whatever way the run ends; the mappings live until both sides unmap.
// A client has up to two: one it stages copies of the caller's tensors in,
// and the caller's own io_buffers().
struct ShmSegment {
  std::string in_region, out_region;
  char* map = nullptr;
  std::size_t in_bytes = 0, out_bytes = 0;
  long rows = 0;  // capacity
  ~ShmSegment() {
    if (map != nullptr) ::munmap(map, in_bytes + out_bytes);
  }
  float* in() const { return reinterpret_cast<float*>(map); }
  float* out() const { return reinterpret_cast<float*>(map + in_bytes); }
  // Whether the n floats at p lie in the inputs' (outputs') part.
  bool holds_in(const float* p, std::size_t n) const { return holds(p, n, map, in_bytes); }
  bool holds_out(const float* p, std::size_t n) const { return holds(p, n, map + in_bytes, out_bytes); }

 private:
  static bool holds(const float* p, std::size_t n, const char* part, std::size_t bytes) {
    const auto a = reinterpret_cast<std::uintptr_t>(p), lo = reinterpret_cast<std::uintptr_t>(part);
    return part != nullptr && a >= lo && a - lo <= bytes && n * sizeof(float) <= bytes - (a - lo);
  }
};

struct Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
  std::string version;  // the model version this client pushed last
  bool same_host = false;  // a Unix socket: the server shares this host's clock
  bool streams = true;     // false once the server answered a stream with UNIMPLEMENTED
};

class GrpcClient final : public SurrogateClient {
 public:
  GrpcClient(const SurrogateSpec& spec, RemoteOptions opt, LatencySink sink)
      : m_spec(spec), m_opt(std::move(opt)), m_sink(std::move(sink)), m_stream_wait(m_opt.poll_us * 1000, m_opt.poll_ahead) {
    if (m_opt.endpoints.empty()) throw std::runtime_error("no inference server endpoints");
    // The mirror holds the weights (built-in MLP or the user's TorchScript)
    // and trains; servers get its TorchScript.
    m_mirror = surrogates::make_local_client(spec);
    m_model_name = spec.name + m_opt.model_suffix;
    for (const auto& address : m_opt.endpoints) {
      Endpoint e;
      e.address = address;
      e.same_host = address.rfind("unix:", 0) == 0;
      e.channel = open_channel(address, m_opt.security);
      e.stub = inference::GRPCInferenceService::NewStub(e.channel);
      m_endpoints.push_back(std::move(e));
    }
    push_weights();  // confirms each server hosts it: the version comes back from ModelMetadata
  }

  void infer(const float* in, std::int64_t batch, float* out) override {
    const long n_ep = static_cast<long>(m_endpoints.size());
    const long rows_per = m_opt.request_rows > 0 ? m_opt.request_rows : (batch + n_ep - 1) / n_ep;
    // Tensors outside the caller's io_buffers() are staged in a segment of the client's.
    const bool staged = !user_part(in, batch * m_spec.in_features, true) ||
                        !user_part(out, batch * m_spec.out_features, false);
    if (m_opt.shared_memory && staged && (!m_shm || m_shm->rows < batch)) map_shared_memory(m_shm, batch, "io");
    const long requests = (static_cast<long>(batch) + rows_per - 1) / rows_per;
    bool stream = m_opt.stream && requests <= n_ep && requests <= m_opt.max_inflight;
    for (const auto& e : m_endpoints) stream = stream && e.streams;
    if (stream && infer_streamed(in, batch, rows_per, out)) return;
    infer_unary(in, batch, rows_per, out);
  }

  IoBuffers io_buffers(std::int64_t rows) override {
    if (!m_opt.shared_memory) return {};
    if (!m_user || m_user->rows < rows) map_shared_memory(m_user, rows, "buffers");
    return {m_user->in(), m_user->out()};
  }

  TrainReport train(const float* x, const float* y, std::int64_t n, const TrainOptions& opt) override {
    TrainReport rep = m_mirror->train(x, y, n, opt);
    const auto t0 = now_ns();
    push_weights();
    m_sink("weights_push", static_cast<double>(now_ns() - t0));
    return rep;
  }

  ~GrpcClient() override {
    close_streams();
    unregister_shared_memory();
    for (auto* cq : {&m_cq, &m_stream_cq}) {
      cq->Shutdown();
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) {
      }
    }
  }

  void save(const std::string& path) override { m_mirror->save(path); }
  std::int64_t bytes_copied() const override { return m_copied; }
  std::int64_t in_features() const override { return m_spec.in_features; }
  std::int64_t out_features() const override { return m_spec.out_features; }
  std::string describe() const override {
    std::ostringstream os;
    os << "gRPC ModelInfer to " << m_endpoints.size() << " server(s):";
    for (const auto& e : m_endpoints) os << " " << e.address;
    os << " (at most " << m_opt.max_inflight << " requests in flight, deadline " << m_opt.timeout_s << " s";
    if (m_opt.stream) {
      bool all = true;
      for (const auto& e : m_endpoints) all = all && e.streams;
      if (all) {
        os << "; one request per server on a ModelStreamInfer stream";
        if (m_opt.poll_us > 0) os << ", answers polled for up to " << m_opt.poll_us << " us";
        if (m_opt.poll_us > 0 && m_opt.poll_ahead) os << " (later ones from just before they are due)";
      } else {
        os << "; unary calls to the servers without ModelStreamInfer";
      }
    }
    if (m_opt.shared_memory) os << "; tensors in system shared memory";
    os << ")";
    return os.str();
  }

 private:
  // The caller's io_buffers() segment when the n floats at p lie in its
  // inputs' (or outputs') part, else null.
  const ShmSegment* user_part(const float* p, std::int64_t n, bool input) const {
    if (!m_user) return nullptr;
    const auto count = static_cast<std::size_t>(n);
    return (input ? m_user->holds_in(p, count) : m_user->holds_out(p, count)) ? m_user.get() : nullptr;
  }

  // A request for rows [off, off + rows) of the batch: the tensor's bytes, or
  // with shared memory only references (region, offset, size): to the rows
  // where they lie in the caller's io_buffers(), or else to the same rows of
  // the staging segment, the inputs copied there.
  void fill_request(inference::ModelInferRequest& req, const float* in, const float* out, long off, long rows) {
    req.Clear();
    req.set_model_name(m_model_name);
    auto* input = req.add_inputs();
    input->set_name("INPUT__0");
    input->set_datatype("FP32");
    input->add_shape(rows);
    input->add_shape(m_spec.in_features);
    const std::size_t bytes = static_cast<std::size_t>(rows * m_spec.in_features) * sizeof(float);
    const float* src = in + off * m_spec.in_features;
    if (m_opt.shared_memory) {
      if (const ShmSegment* u = user_part(src, rows * m_spec.in_features, true)) {
        reference(*input->mutable_parameters(), u->in_region, (src - u->in()) * 4, static_cast<std::int64_t>(bytes));
      } else {
        std::memcpy(m_shm->in() + off * m_spec.in_features, src, bytes);
        reference(*input->mutable_parameters(), m_shm->in_region,
                  static_cast<std::int64_t>(off * m_spec.in_features * 4), static_cast<std::int64_t>(bytes));
        m_copied += static_cast<std::int64_t>(bytes);
      }
      auto* output = req.add_outputs();
      output->set_name("OUTPUT__0");
      const float* dst = out + off * m_spec.out_features;
      const auto out_bytes = static_cast<std::int64_t>(rows * m_spec.out_features * 4);
      if (const ShmSegment* u = user_part(dst, rows * m_spec.out_features, false))
        reference(*output->mutable_parameters(), u->out_region, (dst - u->out()) * 4, out_bytes);
      else
        reference(*output->mutable_parameters(), m_shm->out_region,
                  static_cast<std::int64_t>(off * m_spec.out_features * 4), out_bytes);
    } else {
      req.add_raw_input_contents()->assign(reinterpret_cast<const char*>(src), bytes);
      m_copied += static_cast<std::int64_t>(bytes);
    }
  }

  // When a server on this host sent the answer (its clock is this one's), or 0.
  std::int64_t replied_ns(const inference::ModelInferResponse& resp, std::size_t endpoint) const {
    if (!m_endpoints[endpoint].same_host) return 0;
    const auto it = resp.parameters().find("server_replied_ns");
    return it == resp.parameters().end() ? 0 : it->second.int64_param();
  }

  // Takes a response for rows [off, off + rows): its timings go to the sink and
  // its output to `out`. Returns why it is refused, or "" when taken.
  std::string accept(const inference::ModelInferResponse& resp, std::size_t endpoint, long off, long rows,
                     std::int64_t sent_ns, std::int64_t t_done, float* out) {
    const auto& ep = m_endpoints[endpoint];
    const double rtt = static_cast<double>(t_done - sent_ns);
    m_sink("rpc_roundtrip", rtt);
    const auto& params = resp.parameters();
    auto it = params.find("server_compute_ns");
    if (it != params.end()) {
      m_sink("rpc_server_compute", static_cast<double>(it->second.int64_param()));
      m_sink("rpc_wire", rtt - static_cast<double>(it->second.int64_param()));
    }
    // A server on this host (Unix socket) shares the monotonic clock: the
    // wire time splits into the request's leg and the reply's.
    auto received = params.find("server_received_ns"), replied = params.find("server_replied_ns");
    if (ep.same_host && received != params.end() && replied != params.end()) {
      const double there = static_cast<double>(received->second.int64_param() - sent_ns);
      const double back = static_cast<double>(t_done - replied->second.int64_param());
      if (there >= 0 && back >= 0) {
        m_sink("rpc_request_leg", there);
        m_sink("rpc_reply_leg", back);
      }
    }
    // The CPU a server on this host computed it on: its numbers are this host's.
    auto cpu = params.find("server_cpu_index");
    if (ep.same_host && m_opt.server_cpus && cpu != params.end())
      m_opt.server_cpus->add(static_cast<int>(cpu->second.int64_param()));
    // serve --device cuda: the host <-> device copies inside the server's compute.
    auto copied = params.find("device_copy_ns");
    if (copied != params.end()) m_sink("rpc_server_device_copy", static_cast<double>(copied->second.int64_param()));
    auto queued = params.find("queue_ns");
    if (queued != params.end() && queued->second.int64_param() > 0)
      m_sink("rpc_server_queue", static_cast<double>(queued->second.int64_param()));
    // A model replaced behind the run's back (by anyone but this client)
    // answers with another version: the run's figures would be someone
    // else's model, so it fails.
    if (m_opt.check_version && !ep.version.empty() && resp.model_version() != ep.version)
      return "inference server " + ep.address + " served version " + resp.model_version() + " of '" + m_model_name +
             "', but this run pushed version " + ep.version + ": the model was replaced by someone else";
    const std::size_t want = static_cast<std::size_t>(rows * m_spec.out_features) * sizeof(float);
    const bool shm = m_opt.shared_memory;
    const bool well_formed = shm ? resp.raw_output_contents_size() == 0 && resp.outputs_size() == 1
                                 : resp.raw_output_contents_size() == 1 && resp.raw_output_contents(0).size() == want;
    if (!well_formed) return "inference server " + ep.address + " returned a malformed response";
    float* dst = out + off * m_spec.out_features;
    if (shm && user_part(dst, rows * m_spec.out_features, false)) return {};  // the server wrote it in place
    const auto t2 = now_ns();
    const float* result = shm ? m_shm->out() + off * m_spec.out_features
                              : reinterpret_cast<const float*>(resp.raw_output_contents(0).data());
    std::memcpy(dst, result, want);
    m_copied += static_cast<std::int64_t>(want);
    m_sink("rpc_deserialize", static_cast<double>(now_ns() - t2));
    return {};
  }

  // Unary ModelInfer calls, at most max_inflight at once, round-robin over the servers.
  void infer_unary(const float* in, std::int64_t batch, long rows_per, float* out) {
    struct Call {
      grpc::ClientContext ctx;
      inference::ModelInferRequest req;
      inference::ModelInferResponse resp;
      grpc::Status status;
      std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> rpc;
      long off = 0, rows = 0;
      std::size_t endpoint = 0;
      std::int64_t sent_ns = 0;
    };
    grpc::CompletionQueue& cq = m_cq;  // one queue for the client's life: drained at the end of every call
    std::vector<std::unique_ptr<Call>> calls;
    long next = 0;
    int inflight = 0;
    std::size_t issued = 0;
    auto issue = [&] {
      auto c = std::make_unique<Call>();
      c->off = next;
      c->rows = std::min<long>(rows_per, batch - next);
      next += c->rows;
      c->endpoint = (static_cast<std::size_t>(m_opt.first_endpoint) + issued++) % m_endpoints.size();
      const auto t0 = now_ns();
      fill_request(c->req, in, out, c->off, c->rows);
      prepare(c->ctx);
      const auto t1 = now_ns();
      m_sink("rpc_serialize", static_cast<double>(t1 - t0));
      c->sent_ns = t1;
      c->rpc = m_endpoints[c->endpoint].stub->AsyncModelInfer(&c->ctx, c->req, &cq);
      c->rpc->Finish(&c->resp, &c->status, c.get());
      calls.push_back(std::move(c));
      ++inflight;
    };
    while (next < batch && inflight < m_opt.max_inflight) issue();
    std::string failure;
    while (inflight > 0) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq.Next(&tag, &ok)) break;
      --inflight;
      auto* c = static_cast<Call*>(tag);
      const auto t_done = now_ns();
      if (!ok || !c->status.ok()) {
        if (failure.empty())
          failure = "inference server " + m_endpoints[c->endpoint].address + " failed: " +
                    (ok ? status_text(c->status) : std::string("completion queue error"));
        continue;
      }
      std::string refused = accept(c->resp, c->endpoint, c->off, c->rows, c->sent_ns, t_done, out);
      if (!refused.empty() && failure.empty()) failure = std::move(refused);
      if (failure.empty() && next < batch) issue();
    }
    if (!failure.empty()) {
      // Drain what is still in flight before the queue goes away.
      for (auto& c : calls) c->ctx.TryCancel();
      while (inflight > 0) {
        void* tag = nullptr;
        bool ok = false;
        if (!cq.Next(&tag, &ok)) break;
        --inflight;
      }
      throw std::runtime_error(failure);
    }
  }

  // One ModelStreamInfer stream per server, opened at its first use: a call
  // writes at most one request on each and reads the answers, waiting at most
  // coupling.timeout_s. A stream that fails or times out is cancelled, closed
  // and opened again by the next call.
  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<inference::ModelInferRequest, inference::ModelStreamInferResponse>>
        rw;
    inference::ModelInferRequest req;
    inference::ModelStreamInferResponse resp;
    long off = 0, rows = 0;
    std::int64_t sent_ns = 0;
    grpc::Status status;  // Finish's
    int pending = 0;      // operations whose tags have not come back
    bool failed = false;  // an operation failed: the stream is done
  };
  enum Op : std::uintptr_t { kStart = 0, kWrite = 1, kRead = 2, kClose = 3 };
  static void* stream_tag(std::size_t endpoint, Op op) {
    return reinterpret_cast<void*>((static_cast<std::uintptr_t>(endpoint) << 2) | op);
  }

  // The next tag of the stream queue, or false when `until` passes first.
  // The queue is polled until `poll_until_ns` (PollPlan::now_ns's clock)
  // before the thread sleeps: an answer that comes by then costs no wake-up.
  bool next_stream_event(std::chrono::system_clock::time_point until, std::size_t* endpoint, Op* op, bool* ok,
                         std::int64_t poll_until_ns = 0) {
    void* tag = nullptr;
    bool got = false;
    while (!got && PollPlan::now_ns() < poll_until_ns) {
      const auto st = m_stream_cq.AsyncNext(&tag, ok, gpr_time_0(GPR_CLOCK_MONOTONIC));
      if (st == grpc::CompletionQueue::SHUTDOWN) return false;
      got = st == grpc::CompletionQueue::GOT_EVENT;
    }
    if (!got && m_stream_cq.AsyncNext(&tag, ok, until) != grpc::CompletionQueue::GOT_EVENT) return false;
    const auto bits = reinterpret_cast<std::uintptr_t>(tag);
    *endpoint = static_cast<std::size_t>(bits >> 2);
    *op = static_cast<Op>(bits & 3);
    if (*endpoint < m_streams.size()) --m_streams[*endpoint].pending;
    return true;
  }

  // Waits for every operation of every stream, after cancelling the streams
  // that still have some (a cancelled operation comes back at once).
  void settle_streams(std::chrono::system_clock::time_point until) {
    auto pending = [&] {
      int n = 0;
      for (auto& s : m_streams) n += s.pending;
      return n;
    };
    std::size_t e = 0;
    Op op = kStart;
    bool ok = false;
    while (pending() > 0) {
      if (!next_stream_event(until, &e, &op, &ok)) {
        for (auto& s : m_streams)
          if (s.pending > 0 && s.ctx) {
            s.ctx->TryCancel();
            s.failed = true;  // closed and opened again by the next call
          }
        until = std::chrono::system_clock::time_point::max();
      }
    }
  }

  // Ends a failed stream: its status says why (or the reason given). Throws nothing.
  std::string close_failed_stream(std::size_t endpoint, const std::string& reason) {
    Stream& s = m_streams[endpoint];
    std::string why = reason;
    if (s.rw) {
      s.rw->Finish(&s.status, stream_tag(endpoint, kClose));
      ++s.pending;
      settle_streams(deadline_after(std::min(1.0, m_opt.timeout_s)));
      if (why.empty()) why = s.status.ok() ? "the stream ended" : status_text(s.status);
      // A server with ModelInfer but not Triton's streaming (a KServe server):
      // unary calls from now on.
      if (s.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) m_endpoints[endpoint].streams = false;
    }
    s = Stream{};
    return "inference server " + m_endpoints[endpoint].address + " failed: " + why;
  }

  void open_stream(std::size_t endpoint) {
    const auto t0 = now_ns();
    Stream& s = m_streams[endpoint];
    s.ctx = std::make_unique<grpc::ClientContext>();
    authorize(*s.ctx, m_opt.token);  // no deadline: the stream lives as long as the client; each call has one
    s.rw = m_endpoints[endpoint].stub->PrepareAsyncModelStreamInfer(s.ctx.get(), &m_stream_cq);
    s.rw->StartCall(stream_tag(endpoint, kStart));
    ++s.pending;
    std::size_t e = 0;
    Op op = kStart;
    bool ok = false;
    const auto until = deadline_after(m_opt.timeout_s);
    while (s.pending > 0) {
      if (!next_stream_event(until, &e, &op, &ok)) {
        s.ctx->TryCancel();
        settle_streams(std::chrono::system_clock::time_point::max());
        throw std::runtime_error(close_failed_stream(endpoint, "no stream opened in " + value_to_text(m_opt.timeout_s) +
                                                                   " s (coupling.timeout_s)"));
      }
      if (e == endpoint && op == kStart && !ok) throw std::runtime_error(close_failed_stream(endpoint, ""));
    }
    m_sink("rpc_stream_open", static_cast<double>(now_ns() - t0));
  }

  // Returns false, having sent nothing that counts, when a server turns out
  // not to stream: the caller sends the call unary.
  bool infer_streamed(const float* in, std::int64_t batch, long rows_per, float* out) {
    if (m_streams.size() != m_endpoints.size()) m_streams.resize(m_endpoints.size());
    std::vector<std::size_t> used;
    for (long off = 0, k = 0; off < batch; off += rows_per, ++k)
      used.push_back((static_cast<std::size_t>(m_opt.first_endpoint) + static_cast<std::size_t>(k)) %
                     m_endpoints.size());
    // Every stream the call needs is open before any request goes: a call
    // that fails here leaves nothing in flight.
    for (auto u : used) {
      if (m_streams[u].failed) close_failed_stream(u, "");
      if (!m_streams[u].rw) open_stream(u);
    }
    for (std::size_t k = 0; k < used.size(); ++k) {
      const long off = static_cast<long>(k) * rows_per;
      const std::size_t endpoint = used[k];
      Stream& s = m_streams[endpoint];
      const auto t0 = now_ns();
      s.off = off;
      s.rows = std::min<long>(rows_per, batch - off);
      fill_request(s.req, in, out, s.off, s.rows);
      const auto t1 = now_ns();
      m_sink("rpc_serialize", static_cast<double>(t1 - t0));
      s.sent_ns = t1;
      // A server on this host learns when its requests come (PollPlan).
      if (m_opt.poll_ahead && m_endpoints[endpoint].same_host)
        (*s.req.mutable_parameters())[std::string(kClientSentNs)].set_int64_param(t1);
      // The request before the read: the flow-control window update that
      // posting a read announces then leaves with the request, in one
      // sendmsg (the other way round it went alone first: a second system
      // call per call, and a server woken for nothing).
      s.rw->Write(s.req, stream_tag(endpoint, kWrite));
      s.rw->Read(&s.resp, stream_tag(endpoint, kRead));
      s.pending += 2;
    }
    std::string failure;
    bool timed_out = false;
    const auto until = deadline_after(m_opt.timeout_s);
    // Polled from the start when the last call's answers came within twice
    // the polling window; around the moment they are due when they take
    // longer (PollPlan).
    const auto t_sent = PollPlan::now_ns();
    const PollPlan::Wait wait = m_stream_wait.plan(t_sent);
    if (wait.sleep_until_ns > 0) m_stream_wait.sleep_until(wait.sleep_until_ns);
    int answers = 0;
    std::int64_t came = 0;  // when the last answer was sent (0: not known for every answer)
    while (answers < static_cast<int>(used.size())) {
      std::size_t e = 0;
      Op op = kStart;
      bool ok = false;
      // A short wait's window starts again at each completion of the call
      // (request written, each answer).
      const std::int64_t poll_until =
          wait.short_wait ? PollPlan::now_ns() + m_stream_wait.poll_ns() : wait.poll_until_ns;
      if (!next_stream_event(until, &e, &op, &ok, poll_until)) {
        timed_out = true;
        for (auto u : used)
          if (m_streams[u].pending > 0) {
            m_streams[u].failed = true;
            if (failure.empty())
              failure = "inference server " + m_endpoints[u].address + " gave no answer in " +
                        value_to_text(m_opt.timeout_s) + " s (coupling.timeout_s)";
          }
        break;
      }
      Stream& s = m_streams[e];
      if (!ok) {
        s.failed = true;
        if (op == kRead) ++answers;
        continue;
      }
      if (op != kRead) continue;
      const std::int64_t replied = replied_ns(s.resp.infer_response(), e);
      came = (answers == 0 || came > 0) && replied > 0 ? std::max(came, replied) : 0;
      ++answers;
      const auto t_done = now_ns();
      std::string refused = !s.resp.error_message().empty()
                                ? "inference server " + m_endpoints[e].address + " failed: " + s.resp.error_message()
                                : accept(s.resp.infer_response(), e, s.off, s.rows, s.sent_ns, t_done, out);
      if (!refused.empty() && failure.empty()) failure = std::move(refused);
    }
    m_stream_wait.record(t_sent, PollPlan::now_ns(), came);
    bool any_failed = false;
    for (auto u : used) any_failed = any_failed || m_streams[u].failed;
    if (!any_failed) {
      settle_streams(until);  // the writes' tags, normally back already
      if (!failure.empty()) throw std::runtime_error(failure);
      return true;
    }
    // A failed stream: after a timeout, what it still has in flight is
    // cancelled at once (the deadline has passed). Otherwise the server ended
    // it, and its write comes back by itself: cancelling it first would
    // replace the server's status (the reason a stream was refused) with the
    // client's own CANCELLED.
    settle_streams(timed_out ? until : deadline_after(std::min(1.0, m_opt.timeout_s)));
    bool unimplemented = true;
    for (auto u : used) {
      if (!m_streams[u].failed) continue;
      std::string why = close_failed_stream(u, "");
      unimplemented = unimplemented && !m_endpoints[u].streams;
      if (failure.empty()) failure = std::move(why);
    }
    if (unimplemented) return false;
    throw std::runtime_error(failure);
  }

  // At the client's end: each stream is told that no more requests come and
  // closed; a server that does not answer in a second is cancelled.
  void close_streams() noexcept {
    bool any = false;
    for (std::size_t e = 0; e < m_streams.size(); ++e) {
      Stream& s = m_streams[e];
      if (!s.rw) continue;
      s.rw->WritesDone(stream_tag(e, kWrite));
      s.rw->Finish(&s.status, stream_tag(e, kClose));
      s.pending += 2;
      any = true;
    }
    if (any) settle_streams(deadline_after(std::min(1.0, m_opt.timeout_s)));
    m_streams.clear();
  }

  // Every call: the deadline, and the run's token when the servers want one.
  void prepare(grpc::ClientContext& ctx) const {
    ctx.set_deadline(deadline_after(m_opt.timeout_s));
    authorize(ctx, m_opt.token);
  }

  // Replaces `slot` with a segment for `rows` rows (from 1024, grown by
  // doubling), registered with every server. Throws naming the server that
  // refuses it.
  void map_shared_memory(std::unique_ptr<ShmSegment>& slot, std::int64_t rows, const char* what) {
    unregister_segment(slot);
    auto seg = std::make_unique<ShmSegment>();
    seg->rows = 1024;
    while (seg->rows < rows) seg->rows *= 2;
    seg->in_bytes = static_cast<std::size_t>(seg->rows * m_spec.in_features) * sizeof(float);
    seg->out_bytes = static_cast<std::size_t>(seg->rows * m_spec.out_features) * sizeof(float);
    const std::string key = "/motifbench-" + std::to_string(getpid()) + "-" + what + "-" + random_hex(8);
    const int fd = ::shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create shared memory " + key + ": " + std::strerror(errno));
    const std::size_t total = seg->in_bytes + seg->out_bytes;
    void* map = ::ftruncate(fd, static_cast<off_t>(total)) == 0
                    ? ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                    : MAP_FAILED;
    const int err = errno;
    ::close(fd);
    if (map == MAP_FAILED) {
      ::shm_unlink(key.c_str());
      throw std::runtime_error("cannot map shared memory " + key + ": " + std::strerror(err));
    }
    seg->map = static_cast<char*>(map);
    seg->in_region = key.substr(1) + "-in";
    seg->out_region = key.substr(1) + "-out";
    std::string failure;
    for (auto& e : m_endpoints) {
      for (int side = 0; side < 2 && failure.empty(); ++side) {
        grpc::ClientContext ctx;
        prepare(ctx);
        inference::SystemSharedMemoryRegisterRequest q;
        q.set_name(side == 0 ? seg->in_region : seg->out_region);
        q.set_key(key);
        q.set_offset(side == 0 ? 0 : seg->in_bytes);
        q.set_byte_size(side == 0 ? seg->in_bytes : seg->out_bytes);
        inference::SystemSharedMemoryRegisterResponse r;
        auto st = e.stub->SystemSharedMemoryRegister(&ctx, q, &r);
        if (!st.ok())
          failure = "inference server " + e.address + " did not register shared memory (coupling.shared_memory=off "
                    "sends tensors in the requests): " + status_text(st);
      }
    }
    ::shm_unlink(key.c_str());  // every server has it mapped (or the run fails): the name is no longer needed
    slot = std::move(seg);
    if (!failure.empty()) throw std::runtime_error(failure);
  }

  void unregister_shared_memory() noexcept {
    unregister_segment(m_shm);
    unregister_segment(m_user);
  }

  // Best effort, bounded: a server that is gone has nothing left to unmap.
  void unregister_segment(std::unique_ptr<ShmSegment>& slot) noexcept {
    if (!slot) return;
    for (auto& e : m_endpoints) {
      for (const auto* name : {&slot->in_region, &slot->out_region}) {
        grpc::ClientContext ctx;
        ctx.set_deadline(deadline_after(std::min(1.0, m_opt.timeout_s)));
        authorize(ctx, m_opt.token);
        inference::SystemSharedMemoryUnregisterRequest q;
        q.set_name(*name);
        inference::SystemSharedMemoryUnregisterResponse r;
        if (!e.stub->SystemSharedMemoryUnregister(&ctx, q, &r).ok()) break;
      }
    }
    slot.reset();
  }

  void push_weights() {
    // The TorchScript file goes through a private folder (mkdtemp, mode 0700),
    // never a predictable path in /tmp, and is removed at once.
    std::string dir = "/tmp/motifbench-" + std::to_string(getpid()) + "-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr)
      throw std::runtime_error(std::string("cannot create a private folder for the weights: ") + std::strerror(errno));
    const std::string path = dir + "/weights.pt";
    std::string bytes;
    try {
      m_mirror->save(path);
      std::ifstream in(path, std::ios::binary);
      bytes.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    } catch (...) {
      std::remove(path.c_str());
      rmdir(dir.c_str());
      throw;
    }
    std::remove(path.c_str());
    rmdir(dir.c_str());
    inference::RepositoryModelLoadRequest q;
    q.set_model_name(m_model_name);
    auto& p = *q.mutable_parameters();
    p["file:model.pt"].set_bytes_param(bytes);
    p["in_features"].set_int64_param(m_spec.in_features);
    p["out_features"].set_int64_param(m_spec.out_features);
    for (auto& e : m_endpoints) {
      grpc::ClientContext ctx;
      prepare(ctx);
      inference::RepositoryModelLoadResponse r;
      auto s = e.stub->RepositoryModelLoad(&ctx, q, &r);
      if (!s.ok())
        throw std::runtime_error("inference server " + e.address + " did not take the model: " + status_text(s));
      // The version the server gave what we pushed; responses must carry it.
      grpc::ClientContext mctx;
      prepare(mctx);
      inference::ModelMetadataRequest mq;
      mq.set_name(m_model_name);
      inference::ModelMetadataResponse mr;
      auto ms = e.stub->ModelMetadata(&mctx, mq, &mr);
      if (!ms.ok() || mr.versions_size() < 1)
        throw std::runtime_error("inference server " + e.address + " gave no version for '" + m_model_name + "'" +
                                 (ms.ok() ? "" : ": " + status_text(ms)));
      e.version = mr.versions(0);
    }
  }

  SurrogateSpec m_spec;
  RemoteOptions m_opt;
  LatencySink m_sink;
  std::unique_ptr<SurrogateClient> m_mirror;
  std::string m_model_name;
  std::vector<Endpoint> m_endpoints;
  std::unique_ptr<ShmSegment> m_shm;   // staging: copies of the caller's tensors
  std::unique_ptr<ShmSegment> m_user;  // the caller's io_buffers()
  grpc::CompletionQueue m_cq;  // unary calls
  grpc::CompletionQueue m_stream_cq;  // the streams' operations
  std::vector<Stream> m_streams;  // one per endpoint; empty until a call streams
  PollPlan m_stream_wait;  // how a streamed call waits for its answers
  std::int64_t m_copied = 0;
};

}  // namespace

std::unique_ptr<SurrogateClient> make_grpc_client(const SurrogateSpec& spec, const RemoteOptions& options,
                                                  LatencySink sink) {
  return std::make_unique<GrpcClient>(spec, options, std::move(sink));
}

std::string wait_server_ready(const std::string& endpoint, double timeout_s, const ChannelSecurity& security) {
  auto stub = inference::GRPCInferenceService::NewStub(open_channel(endpoint, security));
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < until) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline_after(0.5));
    inference::ServerReadyRequest q;
    inference::ServerReadyResponse r;
    auto s = stub->ServerReady(&ctx, q, &r);
    if (s.ok() && r.ready()) {
      grpc::ClientContext mctx;
      mctx.set_deadline(deadline_after(timeout_s));
      inference::ServerMetadataRequest mq;
      inference::ServerMetadataResponse mr;
      auto ms = stub->ServerMetadata(&mctx, mq, &mr);
      return ms.ok() ? mr.name() + " " + mr.version() : "unknown";
    }
    last = status_text(s);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("inference server " + endpoint + " is unreachable (" + last + ") after " +
                           value_to_text(timeout_s) + " s");
}

}  // namespace motifbench::detail
