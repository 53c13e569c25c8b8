// Distributed Models (edge to HPC). K edge producers generate instrument
// frames with Kokkos at a configured rate. Each edge runs a small model that
// scores its frames and forwards only the interesting ones (plus a small
// random share, so learning never starves) over a constrained link with
// latency, bandwidth, jitter and a bounded queue. The HPC side runs the peak
// finder (Kokkos) and a larger model on what arrives, labels the frames, and
// periodically trains the edge model and publishes its weights back to every
// edge over the same link: continual learning, in both directions.
// `--set edge.filter=false` (and mode `none`, which has no AI) forwards
// every frame: the baseline under the same link limits.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>
#include <unistd.h>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels.hpp"
#include "motifbench/motif.hpp"
#include "motifbench/registry.hpp"
#include "motifbench/replay.hpp"

namespace motifbench {
namespace distributed_models {
namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Images = Kokkos::View<float**, Kokkos::LayoutRight, Exec>;
using Features = Kokkos::View<float**, Kokkos::LayoutRight, Exec>;
using Ids = Kokkos::View<int*, Exec>;
using Counts = Kokkos::View<int*, Exec>;

void declare(ConfigSchema& s) {
  s.add_int("edge.count", 4, 1, 4096, "edge producers");
  s.add_real("edge.rate_hz", 100.0, 0.001, 1e6, "frames per second per edge");
  s.add_int("edge.frames", 150, 1, 1 << 30, "frames per edge in the measured budget");
  s.add_bool("edge.filter", true, "edge model filters (false, or mode none: the edge.baseline policy)");
  s.add_choice("edge.baseline", "all", {"all", "random"},
               "without the model: forward every frame (all), or each frame with probability "
               "edge.random_fraction (random: the fair control at the model's byte budget)");
  s.add_real("edge.random_fraction", 0.2, 0.0, 1.0, "random baseline: share of frames forwarded");
  s.add_real("edge.threshold", 0.3, -1e6, 1e6, "edge model score above which a frame is forwarded");
  s.add_real("edge.explore", 0.03, 0.0, 1.0, "share of frames forwarded at random regardless of the score");
  s.add_int("frame.size", 32, 8, 4096, "detector pixels per side (a multiple of 8)");
  s.add_real("frame.interesting", 0.1, 0.0, 1.0, "share of frames with Bragg peaks");
  s.add_real("link.latency_ms", 5.0, 0.0, 1e6, "one-way link latency");
  s.add_real("link.bandwidth_bytes_per_s", 500000.0, 0.0, 1e13, "link bandwidth, > 0");
  s.add_real("link.jitter_ms", 1.0, 0.0, 1e6, "uniform extra delay per message, at most");
  s.add_int("link.queue", 32, 1, 1 << 24, "messages queued on the link at most; more are dropped (back-pressure)");
  s.add_int("update.every", 25, 1, 1 << 24, "rounds between edge-model updates from the HPC side");
  s.add_int("update.epochs", 20, 1, 100000, "epochs per edge-model training on the HPC side");
  s.add_int("update.max_samples", 256, 16, 1 << 26,
            "replay buffer: the most recent labelled frames kept for training (older ones are dropped), so the "
            "cost of an update, which stalls the HPC side, does not grow with the run's length");
}

// The constrained link, applied in the transport: a message's bytes go into
// the staging store when sent and are fetched by the receiver only once the
// link would have delivered them (serialisation at the bandwidth behind the
// messages queued before it, then latency plus jitter).
class Link {
 public:
  struct Message {
    std::string key;
    std::size_t bytes;
    std::int64_t sent_ns, transmitted_ns, deliver_ns;
    std::uint64_t tag;  // frame id, or model version
  };
  Link(double latency_s, double bandwidth, double jitter_s, std::size_t queue, std::uint64_t seed)
      : m_latency_ns(latency_s * 1e9), m_ns_per_byte(1e9 / bandwidth), m_jitter_ns(jitter_s * 1e9),
        m_queue(queue), m_rng(seed) {}

  /// False when the queue is full (the message is dropped).
  bool send(StagingStore& store, const std::string& key, const void* data, std::size_t bytes, std::uint64_t tag) {
    const auto now = now_ns();
    std::size_t queued = 0;  // waiting for, or being serialised onto, the link
    for (const auto& m : m_pending) queued += m.transmitted_ns > now ? 1 : 0;
    if (queued >= m_queue) return false;
    store.put(key, data, bytes);
    const double start = std::max<double>(static_cast<double>(now), m_free_ns);
    m_free_ns = start + bytes * m_ns_per_byte;
    const double jitter = std::uniform_real_distribution<double>(0.0, m_jitter_ns)(m_rng);
    const auto deliver = static_cast<std::int64_t>(m_free_ns + m_latency_ns + jitter);
    m_pending.push_back(Message{key, bytes, now, static_cast<std::int64_t>(m_free_ns), deliver, tag});
    m_bytes += static_cast<double>(bytes);
    return true;
  }
  /// Messages whose delivery time has come, oldest first.
  std::vector<Message> receive() {
    const auto now = now_ns();
    std::vector<Message> out;
    std::stable_sort(m_pending.begin(), m_pending.end(),
                     [](const Message& a, const Message& b) { return a.deliver_ns < b.deliver_ns; });
    while (!m_pending.empty() && m_pending.front().deliver_ns <= now) {
      out.push_back(m_pending.front());
      m_pending.pop_front();
    }
    return out;
  }
  bool idle() const { return m_pending.empty(); }
  std::int64_t next_delivery_ns() const {
    std::int64_t t = INT64_MAX;
    for (const auto& m : m_pending) t = std::min(t, m.deliver_ns);
    return t;
  }
  double bytes() const { return m_bytes; }

 private:
  double m_latency_ns, m_ns_per_byte, m_jitter_ns;
  std::size_t m_queue;
  std::mt19937_64 m_rng;
  double m_free_ns = 0, m_bytes = 0;
  std::deque<Message> m_pending;
};

class DistributedModels final : public Motif {
 public:
  ~DistributedModels() override {
    if (!m_tmp_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(m_tmp_dir, ec);
    }
  }
  void setup(RunContext& ctx) override {
    const Config& c = ctx.config();
    m_edges = static_cast<int>(c.get_int("edge.count"));
    m_rate = c.get_real("edge.rate_hz");
    m_frames_per_edge = c.get_int("edge.frames");
    m_threshold = static_cast<float>(c.get_real("edge.threshold"));
    m_explore = c.get_real("edge.explore");
    m_frame.n = static_cast<int>(c.get_int("frame.size"));
    if (m_frame.n % kPool != 0)
      throw std::invalid_argument("frame.size must be a multiple of " + std::to_string(kPool));
    m_frame.interesting_probability = static_cast<float>(c.get_real("frame.interesting"));
    m_update_every = c.get_int("update.every");
    m_epochs = c.get_int("update.epochs");
    m_max_samples = c.get_int("update.max_samples");
    m_seed = ctx.seed();
    m_rng.seed(m_seed);
    const double bw = c.get_real("link.bandwidth_bytes_per_s");
    m_up = std::make_unique<Link>(c.get_real("link.latency_ms") * 1e-3, bw, c.get_real("link.jitter_ms") * 1e-3,
                                  static_cast<std::size_t>(c.get_int("link.queue")), m_seed ^ 1);
    m_down = std::make_unique<Link>(c.get_real("link.latency_ms") * 1e-3, bw, c.get_real("link.jitter_ms") * 1e-3,
                                    1u << 20, m_seed ^ 2);
    for (const char* name : {"simulate", "infer", "decide", "stage_io", "analyze", "train", "wait"})
      m_ph.push_back(ctx.phase(name));
    m_frame_bytes = static_cast<std::size_t>(m_frame.n) * m_frame.n * sizeof(float);

    m_spec.name = "edge_filter";
    m_spec.in_features = kPool * kPool;
    m_spec.out_features = 1;
    m_spec.hidden = {16};
    m_spec.seed = m_seed;
    m_spec.learning_rate = 1e-2;
    m_edge_model = ctx.make_surrogate(m_spec);
    m_edge_infer_flops = inference_flops_per_row(m_spec);  // its updates are TorchScript files of this shape
    m_filter = m_edge_model && c.get_bool("edge.filter");
    m_random = !m_filter && c.get_string("edge.baseline") == "random";
    m_random_fraction = c.get_real("edge.random_fraction");
    if (m_edge_model) {
      SurrogateSpec big = m_spec;
      big.name = "hpc_model";
      big.hidden = {64, 64};
      m_hpc_model = ctx.make_surrogate(big);
      m_hpc_infer_flops = inference_flops_per_row(big);
      // Every update trains the edge model's HPC copy and the HPC model on the same samples.
      m_train_flops = training_flops_per_sample(m_spec) + training_flops_per_sample(big);
      // The HPC side's copy of the edge model, under its own name on the
      // servers: the edge's model changes only when the edge installs an update.
      SurrogateSpec trainer = m_spec;
      trainer.name = "edge_filter_hpc";
      m_trainer = ctx.make_surrogate(trainer);
      // Edges are deployed with a model trained offline on a small labelled set.
      std::vector<float> x, y;
      label_offline(1024, x, y);
      m_trainer->train(x.data(), y.data(), static_cast<std::int64_t>(y.size()), TrainOptions{60, 32, m_seed});
      m_hpc_model->train(x.data(), y.data(), static_cast<std::int64_t>(y.size()), TrainOptions{60, 32, m_seed});
      install_edge_model(ctx, publish_bytes());
    }
  }

  bool done() const override { return m_round >= m_frames_per_edge && m_up->idle() && m_down->idle(); }

  void step(RunContext& ctx) override {
    if (ctx.warming_up()) return;  // frames are the budget
    if (m_t0 == 0) m_t0 = now_ns();
    if (m_round < m_frames_per_edge) {
      pace(ctx, m_t0 + static_cast<std::int64_t>(m_round * 1e9 / m_rate));
      edges(ctx);
      ++m_round;
    } else {
      pace(ctx, std::min(m_up->next_delivery_ns(), m_down->next_delivery_ns()));  // drain the link
    }
    hpc(ctx);
    model_updates(ctx);
  }

  void finish(RunContext& ctx) override {
    auto& m = ctx.metrics();
    const double elapsed = (now_ns() - m_t0) * 1e-9;
    m.note("determinism", "real-time link: what arrives, and when model updates install, depends on each mode's "
                          "speed, so one seed gives different science in different coupling modes by design");
    m.note("edge", m_filter   ? "edge model filters (" + m_edge_model->describe() + ")"
                   : m_random ? "random filter: forwards each frame with probability " + std::to_string(m_random_fraction)
                              : "forwards every frame");
    m.scalar("frames_produced_count", m_produced);
    m.scalar("frames_forwarded_count", m_forwarded);
    m.scalar("frames_dropped_count", m_dropped);
    m.scalar("insights_count", m_insights);
    m.scalar("edge_frames_per_s", elapsed > 0 ? m_produced / elapsed : 0.0);
    m.scalar("uplink_bytes", m_up->bytes());
    m.scalar("downlink_bytes", m_down->bytes());
    m.scalar("data_reduction_ratio", m_up->bytes() > 0 ? m_produced * m_frame_bytes / m_up->bytes() : 0.0);
    m.scalar("interesting_produced_count", m_interesting);
    if (m_interesting > 0) m.scalar("interesting_recall_fraction", m_interesting_seen / m_interesting);
    m.scalar("model_updates_count", m_updates_applied);
    if (m_hpc_model) m.scalar("replay_dropped_count", m_replay_dropped);
    if (m_insights > 0) m.scalar("hpc_model_agreement_fraction", m_agree / m_insights);
  }

 private:
  void pace(RunContext& ctx, std::int64_t until_ns) {
    const auto now = now_ns();
    if (until_ns == INT64_MAX || until_ns <= now) return;
    ScopedPhase p(ctx, m_ph[6]);
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(until_ns - now, 1'000'000'000)));
  }

  // `flops_per_row`: the model's declared flops per row.
  std::vector<float> score(RunContext& ctx, SurrogateClient& model, double flops_per_row, const std::vector<float>& feat,
                           std::int64_t n) {
    std::vector<float> out(static_cast<std::size_t>(n));
    ScopedPhase p(ctx, m_ph[1]);
    const auto t = now_ns();
    model.infer(feat.data(), n, out.data());
    ctx.record_latency_ns("infer_call", static_cast<double>(now_ns() - t));
    ctx.declare_work(m_ph[1], Work{double(n), 4.0 * feat.size(), flops_per_row * n, 0});
    return out;
  }

  // Every edge produces one frame; the edge model decides what to forward.
  void edges(RunContext& ctx) {
    std::vector<int> ids(static_cast<std::size_t>(m_edges));
    for (int e = 0; e < m_edges; ++e) ids[static_cast<std::size_t>(e)] = static_cast<int>(m_round * m_edges + e);
    Images img("dm::frames", m_edges, m_frame.n * m_frame.n);
    Features feat("dm::features", m_edges, kPool * kPool);
    const auto t_made = now_ns();
    {
      ScopedPhase p(ctx, m_ph[0]);
      auto v = to_view(ids);
      generate<Exec>("distributed_models::generate", m_seed, m_frame, v, img);
      pool<Exec>("distributed_models::pool", m_frame.n, img, feat);
      ctx.declare_work(m_ph[0], edge_work(m_edges, m_frame.n));
    }
    auto himg = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), img);
    auto hfeat = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), feat);
    std::vector<float> f(hfeat.data(), hfeat.data() + hfeat.size());
    std::vector<float> s;
    if (m_filter) s = score(ctx, *m_edge_model, m_edge_infer_flops, f, m_edges);
    ScopedPhase p(ctx, m_ph[2]);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int e = 0; e < m_edges; ++e) {
      const auto id = static_cast<std::uint64_t>(ids[static_cast<std::size_t>(e)]);
      m_produced += 1;
      const bool hot = interesting(m_seed, id, m_frame.interesting_probability);
      m_interesting += hot ? 1 : 0;
      const bool forward = m_filter   ? s[static_cast<std::size_t>(e)] > m_threshold || u(m_rng) < m_explore
                           : m_random ? u(m_rng) < m_random_fraction
                                      : true;
      if (!forward) continue;
      const std::string key = "distributed_models/" + std::to_string(ctx.rank()) + "/frame/" + std::to_string(id);
      if (m_up->send(ctx.staging(), key, &himg(e, 0), m_frame_bytes, id)) {
        m_forwarded += 1;
        m_born[id] = t_made;
      } else {
        m_dropped += 1;  // back-pressure: the link queue is full
      }
    }
  }

  // The HPC side: fetch what the link delivered, find peaks, run the larger
  // model, record the insight and keep labelled samples for the edge model.
  void hpc(RunContext& ctx) {
    auto arrived = m_up->receive();
    if (arrived.empty()) return;
    const int k = static_cast<int>(arrived.size());
    Images img("dm::hpc_frames", k, m_frame.n * m_frame.n);
    auto himg = Kokkos::create_mirror_view(img);
    {
      ScopedPhase p(ctx, m_ph[3]);
      std::vector<char> bytes;
      for (int i = 0; i < k; ++i) {
        if (!ctx.staging().get(arrived[static_cast<std::size_t>(i)].key, bytes) || bytes.size() != m_frame_bytes)
          throw std::runtime_error("staging store " + ctx.staging().describe() + " lost a frame in transit");
        ctx.staging().erase(arrived[static_cast<std::size_t>(i)].key);
        std::memcpy(&himg(i, 0), bytes.data(), m_frame_bytes);
      }
      ctx.declare_work(m_ph[3], Work{double(k), double(k) * m_frame_bytes, 0, double(k) * m_frame_bytes});
    }
    Kokkos::deep_copy(img, himg);
    Counts peaks("dm::peaks", k);
    Features feat("dm::hpc_features", k, kPool * kPool);
    {
      ScopedPhase p(ctx, m_ph[4]);
      find_peaks<Exec>("distributed_models::find_peaks", m_frame.n, 1.5f, img, peaks);
      pool<Exec>("distributed_models::pool", m_frame.n, img, feat);
      ctx.declare_work(m_ph[4], analysis_work(k, m_frame.n));
    }
    auto hp = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), peaks);
    auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), feat);
    std::vector<float> f(hf.data(), hf.data() + hf.size());
    std::vector<float> big;
    if (m_hpc_model) big = score(ctx, *m_hpc_model, m_hpc_infer_flops, f, k);
    const auto t_insight = now_ns();
    for (int i = 0; i < k; ++i) {
      const auto id = arrived[static_cast<std::size_t>(i)].tag;
      ctx.record_latency_ns("frame_to_insight", static_cast<double>(t_insight - m_born[id]));
      m_born.erase(id);
      const float label = hp(i) > 0 ? 1.0f : 0.0f;
      m_insights += 1;
      m_interesting_seen += interesting(m_seed, id, m_frame.interesting_probability) ? 1 : 0;
      if (m_hpc_model) {
        m_agree += ((big[static_cast<std::size_t>(i)] > 0.5f) == (label > 0.5f)) ? 1 : 0;
        m_lab_x.insert(m_lab_x.end(), f.begin() + i * kPool * kPool, f.begin() + (i + 1) * kPool * kPool);
        m_lab_y.push_back(label);
      }
    }
    m_replay_dropped +=
        static_cast<double>(keep_most_recent(m_lab_x, m_lab_y, kPool * kPool, static_cast<std::size_t>(m_max_samples)));
  }

  // Continual learning: the HPC side retrains the edge model on what it has
  // labelled and publishes the weights; each edge installs them on delivery.
  void model_updates(RunContext& ctx) {
    if (!m_filter) return;  // an edge that forwards everything has no model to update
    for (const auto& msg : m_down->receive()) {
      std::vector<char> bytes;
      {
        ScopedPhase p(ctx, m_ph[3]);
        if (!ctx.staging().get(msg.key, bytes))
          throw std::runtime_error("staging store " + ctx.staging().describe() + " lost a model update");
      }
      install_edge_model(ctx, bytes);
      ctx.record_latency_ns("model_update", static_cast<double>(now_ns() - msg.sent_ns));
      m_updates_applied += 1;
    }
    if (m_round == 0 || m_round % m_update_every != 0 || m_lab_y.size() < 16 || m_round == m_last_update) return;
    m_last_update = m_round;
    {
      ScopedPhase p(ctx, m_ph[5]);
      auto rep = m_trainer->train(m_lab_x.data(), m_lab_y.data(), static_cast<std::int64_t>(m_lab_y.size()),
                                  TrainOptions{m_epochs, 32, m_seed + static_cast<std::uint64_t>(m_round)});
      m_hpc_model->train(m_lab_x.data(), m_lab_y.data(), static_cast<std::int64_t>(m_lab_y.size()),
                         TrainOptions{m_epochs, 32, m_seed + static_cast<std::uint64_t>(m_round)});
      ctx.declare_work(m_ph[5], Work{double(rep.samples_trained), 0, m_train_flops * rep.samples_trained, 0});
    }
    auto bytes = publish_bytes();
    ++m_version;
    // Publish once per edge: every subscriber receives its own copy over the link.
    for (int e = 0; e < m_edges; ++e) {
      const std::string key = "distributed_models/" + std::to_string(ctx.rank()) + "/edge_model/v" +
                              std::to_string(m_version) + "/e" + std::to_string(e);
      m_down->send(ctx.staging(), key, bytes.data(), bytes.size(), m_version);
    }
  }

  std::vector<char> publish_bytes() {
    const std::string path = tmp_path("publish");
    m_trainer->save(path);
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::remove(path.c_str());
    return bytes;
  }

  void install_edge_model(RunContext& ctx, const std::vector<char>& bytes) {
    const std::string path = tmp_path("install");
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    SurrogateSpec s = m_spec;
    s.path = path;
    m_edge_model = ctx.make_surrogate(s);
    std::remove(path.c_str());
  }

  // Model files pass through a private folder (mkdtemp, mode 0700), never a
  // predictable path in /tmp; the folder goes with the mini-app.
  std::string tmp_path(const char* what) {
    if (m_tmp_dir.empty()) {
      std::string templ = "/tmp/motifbench-" + std::to_string(getpid()) + "-dm-XXXXXX";
      if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("cannot create a private folder in /tmp");
      m_tmp_dir = templ;
    }
    return m_tmp_dir + "/" + what + ".pt";
  }

  void label_offline(int n, std::vector<float>& x, std::vector<float>& y) {
    std::vector<int> ids(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = -1 - i;  // ids the run never produces
    Images img("dm::offline", n, m_frame.n * m_frame.n);
    Features feat("dm::offline_features", n, kPool * kPool);
    Counts peaks("dm::offline_peaks", n);
    auto v = to_view(ids);
    FrameSpec balanced = m_frame;  // a balanced offline set, so positives are not rare
    balanced.interesting_probability = 0.5f;
    generate<Exec>("distributed_models::generate", m_seed ^ 0x0ff1ceULL, balanced, v, img);
    pool<Exec>("distributed_models::pool", m_frame.n, img, feat);
    find_peaks<Exec>("distributed_models::find_peaks", m_frame.n, 1.5f, img, peaks);
    auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), feat);
    auto hp = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), peaks);
    x.assign(hf.data(), hf.data() + hf.size());
    for (int i = 0; i < n; ++i) y.push_back(hp(i) > 0 ? 1.0f : 0.0f);
  }

  static Ids to_view(const std::vector<int>& ids) {
    Ids v("dm::ids", ids.size());
    auto h = Kokkos::create_mirror_view(v);
    for (std::size_t i = 0; i < ids.size(); ++i) h(i) = ids[i];
    Kokkos::deep_copy(v, h);
    return v;
  }

  int m_edges = 0;
  double m_rate = 1, m_explore = 0;
  float m_threshold = 0.5f;
  std::int64_t m_frames_per_edge = 0, m_round = 0, m_update_every = 1, m_epochs = 1, m_t0 = 0, m_last_update = -1;
  std::int64_t m_max_samples = 1;
  double m_replay_dropped = 0;  // labels dropped from the replay buffer
  std::uint64_t m_seed = 0, m_version = 0;
  FrameSpec m_frame;
  std::size_t m_frame_bytes = 0;
  bool m_filter = false, m_random = false;
  double m_random_fraction = 0;
  std::mt19937_64 m_rng;
  std::unique_ptr<Link> m_up, m_down;
  std::vector<PhaseId> m_ph;
  SurrogateSpec m_spec;  // the edge model's shape (installed as TorchScript files of it)
  double m_edge_infer_flops = 0, m_hpc_infer_flops = 0, m_train_flops = 0;  // declared, per row and per sample trained
  std::string m_tmp_dir;
  std::unique_ptr<SurrogateClient> m_edge_model, m_hpc_model, m_trainer;
  std::map<std::uint64_t, std::int64_t> m_born;
  std::vector<float> m_lab_x, m_lab_y;
  double m_produced = 0, m_forwarded = 0, m_dropped = 0, m_insights = 0, m_interesting = 0, m_interesting_seen = 0,
         m_agree = 0, m_updates_applied = 0;
};

}  // namespace
}  // namespace distributed_models

void register_distributed_models(Registry& registry) {
  MotifInfo info;
  info.name = "distributed_models";
  info.summary = "edge producers filter instrument frames with a small model over a constrained link; HPC retrains it";
  info.couplings = {Coupling::Tight, Coupling::SemiTight, Coupling::Loose, Coupling::None};
  info.declare_config = distributed_models::declare;
  info.check_config = [](const Config& c) -> std::string {
    if (!(c.get_real("link.bandwidth_bytes_per_s") > 0))
      return "link.bandwidth_bytes_per_s must be > 0, got " + value_to_text(c.value("link.bandwidth_bytes_per_s"));
    if (c.get_int("frame.size") % distributed_models::kPool != 0)
      return "frame.size must be a multiple of " + std::to_string(distributed_models::kPool);
    return "";
  };
  info.memory_bytes = [](const Config& c) {
    const double pix = static_cast<double>(c.get_int("frame.size")) * static_cast<double>(c.get_int("frame.size"));
    const double edges = static_cast<double>(c.get_int("edge.count"));
    // One round of frames per edge (images and their host copies) plus the link queue of forwarded frames.
    return edges * pix * 4.0 * 3.0 + static_cast<double>(c.get_int("link.queue")) * pix * 4.0 * edges;
  };
  info.sizes = {
      {"tiny", budget_profile({{"edge.frames", "120"}, {"run.repetitions", "2"}})},
      {"small", budget_profile({{"edge.count", "8"}, {"edge.frames", "1000"}, {"link.bandwidth_bytes_per_s", "1000000"}})},
      {"medium", budget_profile({{"edge.count", "32"}, {"edge.frames", "5000"}, {"frame.size", "64"},
                       {"link.bandwidth_bytes_per_s", "10000000"}})},
      {"large", budget_profile({{"edge.count", "256"}, {"edge.frames", "20000"}, {"frame.size", "128"},
                      {"link.bandwidth_bytes_per_s", "100000000"}})},
  };
  info.create = [] { return std::make_unique<distributed_models::DistributedModels>(); };
  registry.add(std::move(info));
}

}  // namespace motifbench
