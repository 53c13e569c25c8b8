// Coupling layer: staging stores, the inference server and the gRPC client.
#include <gtest/gtest.h>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sys/wait.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

#include "coupling/address.hpp"
#include "coupling/grpc_client.hpp"
#include "coupling/poll_plan.hpp"
#include "coupling/services.hpp"
#include "coupling/stores.hpp"
#include "inference.grpc.pb.h"
#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"
#include "motifbench/staging_producers.hpp"

namespace motifbench::detail {
namespace {

TEST(AddressTest, AcceptsHostPortBracketedV6AndUnixPaths) {
  constexpr auto any = AddressKind::HostPortOrUnix;
  for (const char* ok : {"127.0.0.1:1", "node7:65535", "[::1]:6379", "unix:/tmp/s.sock"})
    EXPECT_EQ(address_problem(ok, any, 1), "") << ok;
  EXPECT_EQ(address_problem("localhost:0", any, 0), "");  // a server picks a free port
  EXPECT_EQ(address_list_problem("unix:/a,127.0.0.1:5000,[::1]:5001", any, 1), "");
  for (const char* grpc : {"ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "dns:///node7:5000", "unix:/s"}) {
    EXPECT_EQ(address_problem(grpc, AddressKind::GrpcTarget, 1), "") << grpc;  // what a gRPC client takes
    if (std::string(grpc).rfind("unix:", 0) != 0) EXPECT_NE(address_problem(grpc, any, 0), "") << grpc;  // not serve
  }
  EXPECT_NE(address_problem("ipv4:127.0.0.1:99999", AddressKind::GrpcTarget, 1), "");
  EXPECT_NE(address_problem("ipv4:127.0.0.1:5000", AddressKind::HostPort, 1), "");  // Redis
}

TEST(AddressTest, RefusesWhatALibraryWouldReadAsAnotherAddress) {
  constexpr auto any = AddressKind::HostPortOrUnix;
  const std::pair<const char*, const char*> bad[] = {
      {"127.0.0.1:99999", "[1, 65535]"}, {"127.0.0.1:0", "[1, 65535]"},   {"127.0.0.1:abc", "not a number"},
      {"127.0.0.1:", "not a number"},    {"127.0.0.1:-1", "not a number"}, {"::1:5000", "brackets"},
      {"[::1:5000", "brackets"},         {"[]:5", "brackets"},              {"unix:", "path is empty"},
      {"localhost", "valid: host:port"}, {":5", "valid: host:port"}};
  for (const auto& [text, why] : bad) EXPECT_NE(address_problem(text, any, 1).find(why), std::string::npos) << text;
  EXPECT_NE(address_problem("unix:/" + std::string(107, 'x'), any, 1).find("107 bytes"), std::string::npos);
  EXPECT_NE(address_problem("unix:/tmp/r.sock", AddressKind::HostPort, 1), "");  // Redis: host:port only
  EXPECT_NE(address_list_problem("127.0.0.1:5000,", any, 1).find("'' is not"), std::string::npos);
  EXPECT_NE(address_list_problem("127.0.0.1:5000,h:70000", any, 1).find("'h:70000'"), std::string::npos);
}

void exercise_store(StagingStore& s) {
  std::vector<char> out;
  EXPECT_FALSE(s.get("missing", out));
  std::vector<float> v{1.5f, -2.0f, 3.25f};
  s.put("a/b", v.data(), v.size() * sizeof(float));
  ASSERT_TRUE(s.get("a/b", out));
  ASSERT_EQ(out.size(), v.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(out.data(), v.data(), out.size()), 0);
  std::vector<char> big(1 << 20, 'z');
  s.put("a/b", big.data(), big.size());  // replace with a larger value
  ASSERT_TRUE(s.get("a/b", out));
  EXPECT_EQ(out, big);
  s.put("empty", nullptr, 0);
  ASSERT_TRUE(s.get("empty", out));
  EXPECT_TRUE(out.empty());
  s.erase("a/b");
  EXPECT_FALSE(s.get("a/b", out));
}

TEST(Stores, Memory) {
  auto s = make_memory_store();
  exercise_store(*s);
}

// Many producers, one consumer: handles from another() share the store, and
// StagingProducers' threads (more than the cores) put slices the consumer
// reads back whole, round after round.
void exercise_producers(StagingStore& consumer) {
  auto other = consumer.another();
  const std::vector<char> hello{'h', 'i'};
  other->put("from/other", hello.data(), hello.size());
  std::vector<char> out;
  ASSERT_TRUE(consumer.get("from/other", out)) << consumer.describe();
  EXPECT_EQ(out, hello);
  for (int producers : {1, 3, 33}) {
    StagingProducers pool(consumer, producers);
    for (int round = 0; round < 5; ++round) {
      const std::size_t records = 100 + static_cast<std::size_t>(round);  // not a multiple of the producers
      std::vector<float> data(records * 4);
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i * 7 + round);
      pool.put("frames", data.data(), records, 4 * sizeof(float));
      ASSERT_TRUE(pool.get(consumer, "frames", out)) << producers << " producers";
      ASSERT_EQ(out.size(), data.size() * sizeof(float)) << consumer.describe() << ", " << producers << " producers, round " << round;
      EXPECT_EQ(std::memcmp(out.data(), data.data(), out.size()), 0) << producers << " producers, round " << round;
    }
    EXPECT_FALSE(pool.get(consumer, "never-put", out));
  }
}

TEST(Stores, AnotherHandleAndManyProducers) {
  auto memory = make_memory_store();
  exercise_producers(*memory);
  const std::string prefix = "/motifbench-" + std::to_string(getpid()) + "-unitprod";
  {
    auto shm = make_shm_store(prefix);
    exercise_producers(*shm);
  }
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    EXPECT_EQ(e.path().filename().string().rfind(prefix.substr(1), 0), std::string::npos) << e.path() << " left behind";
  const auto base = std::filesystem::temp_directory_path() / ("motifbench-unit-prod-" + std::to_string(getpid()));
  {
    auto files = make_file_store(base.string());
    exercise_producers(*files);
  }
  EXPECT_TRUE(std::filesystem::is_empty(base)) << "the file store's folder outlived its last handle";
  std::filesystem::remove_all(base);
}

TEST(Stores, ProducerErrorsReachTheConsumer) {
  Services services;
  auto info = services.start_redis(10);
  auto colon = info.endpoint.rfind(':');
  auto redis = make_redis_store(info.endpoint.substr(0, colon), std::stoi(info.endpoint.substr(colon + 1)), 5,
                                services.redis_password());
  exercise_producers(*redis);
  StagingProducers pool(*redis, 4);
  services.stop_all();
  const float x[8] = {};
  EXPECT_THROW(pool.put("after", x, 4, 2 * sizeof(float)), std::runtime_error) << "a dead Redis must fail the put";
}

TEST(Stores, SharedMemoryCleansUpItsSegments) {
  const std::string prefix = "/motifbench-" + std::to_string(getpid()) + "-unit";
  {
    auto s = make_shm_store(prefix);
    exercise_store(*s);
    s->put("left", "x", 1);
    bool seen = false;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
      seen = seen || e.path().filename().string().rfind(prefix.substr(1), 0) == 0;
    EXPECT_TRUE(seen) << "the segment should exist while the store lives";
  }
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    EXPECT_EQ(e.path().filename().string().rfind(prefix.substr(1), 0), std::string::npos) << e.path();
}

TEST(Stores, SharedMemoryIsOwnerOnlyMappedOnceAndSharedByPrefix) {
  const std::string prefix = "/motifbench-" + std::to_string(getpid()) + "-private";
  auto count = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
      if (e.path().filename().string().rfind(prefix.substr(1), 0) != 0) continue;
      ++n;
      struct stat st {};
      EXPECT_EQ(::stat(e.path().c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0600u) << e.path() << ": other users must not read staged data";
    }
    return n;
  };
  auto a = make_shm_store(prefix), b = make_shm_store(prefix), other = make_shm_store(prefix + "-other");
  std::vector<char> kib(1024, 'k'), out;
  for (int i = 0; i < 100; ++i) a->put("same", kib.data(), kib.size());
  EXPECT_EQ(count(), 1) << "one segment per key, reused by every put";
  ASSERT_TRUE(b->get("same", out)) << "a store with the same prefix (another rank of the node) finds the key";
  EXPECT_EQ(out, kib);
  b->put("same", "b", 1);  // and writes it
  ASSERT_TRUE(a->get("same", out));
  EXPECT_EQ(out, std::vector<char>{'b'});
  EXPECT_EQ(count(), 1);
  EXPECT_FALSE(other->get("same", out)) << "another prefix (another run) never sees it";
}

// Many producers, one consumer, in separate processes: the ranks of a node.
// Each child puts under its own key and into one shared key, growing it; the
// parent reads everything. Bounded: 4 children, 200 puts each.
TEST(Stores, SharedMemoryManyProcessesOneConsumerNoTornValues) {
  const std::string prefix = "/motifbench-" + std::to_string(getpid()) + "-node";
  auto consumer = make_shm_store(prefix);
  consumer->put("shared", "", 0);  // created by the consumer, so it outlives the producers
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        auto producer = make_shm_store(prefix);
        for (int i = 0; i < 200; ++i) {
          // Every value is one repeated byte: a torn read mixes two bytes.
          std::vector<char> v(static_cast<std::size_t>(1 + (i * 97 + k * 4099) % 20000), static_cast<char>('a' + k));
          producer->put("shared", v.data(), v.size());
        }
        const std::string mine = "rank" + std::to_string(k);
        producer->put(mine, mine.data(), mine.size());
        _exit(0);  // no destructors: the consumer reads (and erases) what this rank made
      } catch (...) {
        rc = 1;
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  std::vector<char> out;
  int reads = 0;
  for (int i = 0; i < 2000; ++i) {
    if (!consumer->get("shared", out)) continue;
    ++reads;
    for (char c : out) ASSERT_EQ(c, out.front()) << "a torn value: a get saw two puts at once";
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_GT(reads, 0);
  for (int k = 0; k < 4; ++k) {
    const std::string mine = "rank" + std::to_string(k);
    ASSERT_TRUE(consumer->get(mine, out)) << mine;
    EXPECT_EQ(std::string(out.begin(), out.end()), mine);
    consumer->erase(mine);
    EXPECT_FALSE(consumer->get(mine, out));
  }
  consumer.reset();
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    EXPECT_EQ(e.path().filename().string().rfind(prefix.substr(1), 0), std::string::npos) << e.path() << " left";
}

// A rank killed in the middle of a put leaves the segment's sequence number
// odd: the others end with an error after 5 s instead of spinning forever.
TEST(Stores, SharedMemoryHeldByADeadWriterIsAnErrorNotAHang) {
  const std::string prefix = "/motifbench-" + std::to_string(getpid()) + "-dead";
  auto s = make_shm_store(prefix);
  s->put("k", "abc", 3);
  std::string file;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(prefix.substr(1), 0) == 0) file = e.path().string();
  ASSERT_FALSE(file.empty());
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    std::uint64_t seq = 0;
    f.read(reinterpret_cast<char*>(&seq), sizeof seq);
    seq |= 1;  // a put that never finished
    f.seekp(0);
    f.write(reinterpret_cast<const char*>(&seq), sizeof seq);
  }
  std::vector<char> out;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    s->get("k", out);
    FAIL() << "a get of a segment held forever returned";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("held by a put"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_THROW(s->put("k", "d", 1), std::runtime_error);
}

TEST(Stores, FilesInAPrivateFolderRemovedWithTheStore) {
  const std::string base = ::testing::TempDir() + "/motifbench-filestore-" + std::to_string(getpid());
  std::filesystem::create_directories(base);
  // A planted link at the old predictable name must not be followed.
  const std::string planted = base + "/motifbench-" + std::to_string(getpid()) + "-r0";
  std::filesystem::create_directory_symlink("/nonexistent-target", planted);
  {
    auto s = make_file_store(base);
    exercise_store(*s);
    const std::string d = s->describe().substr(std::string("files under ").size());
    EXPECT_NE(d, planted);
    struct stat st {};
    ASSERT_EQ(::lstat(d.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
  }
  std::filesystem::remove(planted);
  EXPECT_TRUE(std::filesystem::is_empty(base)) << "the private folder goes with the store";
  std::filesystem::remove_all(base);
}

TEST(Stores, RedisAgainstARealServer) {
  Services services;
  auto info = services.start_redis(10);
  EXPECT_FALSE(info.version.empty());
  auto colon = info.endpoint.rfind(':');
  const std::string host = info.endpoint.substr(0, colon);
  const int port = std::stoi(info.endpoint.substr(colon + 1));
  // Anyone without the run's password is refused: staged data stays private.
  try {
    make_redis_store(host, port, 5);
    FAIL() << "an unauthenticated client must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("NOAUTH"), std::string::npos) << e.what();
  }
  auto s = make_redis_store(host, port, 5, services.redis_password());
  exercise_store(*s);
  EXPECT_NE(s->describe().find("redis_version"), std::string::npos);
  services.stop_all();
  std::vector<char> out;
  EXPECT_THROW(s->get("anything", out), std::runtime_error) << "a dead Redis must be an error, not a miss";
}

TEST(Stores, UnreachableRedisNamesTheAddress) {
  try {
    make_redis_store("127.0.0.1", free_loopback_port(), 1.0);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("redis at 127.0.0.1:"), std::string::npos) << e.what();
  }
}

SurrogateSpec mlp() {
  SurrogateSpec s;
  s.name = "unit";
  s.in_features = 2;
  s.out_features = 1;
  s.hidden = {8};
  s.seed = 3;
  s.learning_rate = 1e-2;
  return s;
}

// A model's initial weights come from its seed alone, also when models are
// made on several threads at once (LibTorch's global generator is seeded
// per model): each gives the answers of one made alone.
TEST(LocalClient, ModelsMadeOnSeveralThreadsAtOnceGetTheirSeedsWeights) {
  SurrogateSpec spec = mlp();
  spec.hidden = {32, 32};
  std::vector<float> x(2 * 64), want(64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i) - 0.3f;
  surrogates::make_local_client(spec)->infer(x.data(), 64, want.data());
  constexpr int kThreads = 4, kModels = 12;
  std::atomic<int> ready{0}, differ{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      ++ready;
      while (ready.load() < kThreads) {
      }  // start together
      std::vector<float> got(64);
      for (int m = 0; m < kModels; ++m) {
        surrogates::make_local_client(spec)->infer(x.data(), 64, got.data());
        for (int i = 0; i < 64; ++i)
          if (std::fabs(got[static_cast<std::size_t>(i)] - want[static_cast<std::size_t>(i)]) > 1e-6f) {
            ++differ;
            break;
          }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(differ.load(), 0) << "of " << kThreads * kModels << " models made at once";
}

class ServerTest : public ::testing::TestWithParam<long> {
 protected:
  void SetUp() override {
    surrogates::ServerOptions o;
    o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-unit.sock";
    o.max_batch_rows = GetParam();
    o.max_queue_delay_us = 20000;  // generous: a loaded CI machine still batches
    o.grpc_threads = 8;
    server = surrogates::start_server(o);
  }
  std::unique_ptr<surrogates::InferenceServer> server;
};

TEST_P(ServerTest, RemoteInferenceMatchesLocalAndFollowsTraining) {
  RemoteOptions opt;
  opt.endpoints = {server->endpoint()};
  opt.request_rows = 16;  // several requests per call, some in flight together
  opt.max_inflight = 4;
  std::vector<std::string> channels;
  auto remote = make_grpc_client(mlp(), opt, [&](const std::string& c, double) { channels.push_back(c); });
  auto local = surrogates::make_local_client(mlp());
  std::vector<float> x(2 * 100), a(100), b(100);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i);
  remote->infer(x.data(), 100, a.data());
  local->infer(x.data(), 100, b.data());
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(a[i], b[i], 1e-6);
  EXPECT_GT(remote->bytes_copied(), 0) << "the wire path serializes";
  EXPECT_NE(std::find(channels.begin(), channels.end(), "rpc_roundtrip"), channels.end());
  EXPECT_NE(std::find(channels.begin(), channels.end(), "rpc_server_compute"), channels.end());

  // Train through the remote client: the server must serve the new weights.
  std::vector<float> y(100, 0.75f);
  remote->train(x.data(), y.data(), 100, TrainOptions{40, 20, 1});
  local->train(x.data(), y.data(), 100, TrainOptions{40, 20, 1});
  remote->infer(x.data(), 100, a.data());
  local->infer(x.data(), 100, b.data());
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(a[i], b[i], 1e-5);
  EXPECT_NEAR(a[50], 0.75f, 0.1f);
}

// A server on this host shares the monotonic clock: each request's wire time
// (round trip minus the server's time) splits exactly into the request's leg
// and the reply's. Over TCP the server may be elsewhere, so no legs.
TEST_P(ServerTest, WireTimeSplitsIntoTwoLegsOnlyOnThisHost) {
  RemoteOptions opt;
  opt.endpoints = {server->endpoint()};
  opt.request_rows = 16;
  opt.max_inflight = 4;
  std::vector<std::pair<std::string, double>> seen;
  auto sink = [&](const std::string& c, double v) { seen.emplace_back(c, v); };
  auto remote = make_grpc_client(mlp(), opt, sink);
  std::vector<float> x(2 * 100, 0.5f), y(100);
  remote->infer(x.data(), 100, y.data());
  int splits = 0;
  for (std::size_t i = 0; i + 2 < seen.size(); ++i) {
    if (seen[i].first != "rpc_wire") continue;
    ASSERT_EQ(seen[i + 1].first, "rpc_request_leg");
    ASSERT_EQ(seen[i + 2].first, "rpc_reply_leg");
    const double wire = seen[i].second, there = seen[i + 1].second, back = seen[i + 2].second;
    EXPECT_GE(there, 0);
    EXPECT_GE(back, 0);
    EXPECT_NEAR(there + back, wire, 1.0) << "ns: the legs must add up to the wire time";
    ++splits;
  }
  EXPECT_EQ(splits, 7) << "100 rows in requests of 16: every request splits";

  surrogates::ServerOptions o;
  o.listen = "127.0.0.1:0";
  auto tcp = surrogates::start_server(o);
  opt.endpoints = {tcp->endpoint()};
  seen.clear();
  auto far = make_grpc_client(mlp(), opt, sink);
  far->infer(x.data(), 100, y.data());
  int wires = 0;
  for (const auto& [c, v] : seen) {
    EXPECT_NE(c, "rpc_request_leg");
    EXPECT_NE(c, "rpc_reply_leg");
    wires += c == "rpc_wire";
  }
  EXPECT_EQ(wires, 7);
}

// How many shared-memory regions the server at `endpoint` holds.
int registered_regions(const std::string& endpoint) {
  auto stub =
      inference::GRPCInferenceService::NewStub(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  inference::SystemSharedMemoryStatusResponse r;
  EXPECT_TRUE(stub->SystemSharedMemoryStatus(&ctx, inference::SystemSharedMemoryStatusRequest(), &r).ok());
  return r.regions_size();
}

// Semi-tight through system shared memory: the same answers as in process,
// across requests in flight and a segment that grows, with two regions
// registered while the client lives, none after, and no name left in /dev/shm.
TEST_P(ServerTest, SharedMemoryClientMatchesLocalAndLeavesNothing) {
  RemoteOptions opt;
  opt.endpoints = {server->endpoint()};
  opt.request_rows = 64;
  opt.max_inflight = 4;
  opt.shared_memory = true;
  auto regions = [&] { return registered_regions(server->endpoint()); };
  auto shm_names = [] {
    int n = 0;
    const std::string mine = "motifbench-" + std::to_string(getpid()) + "-";
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
      n += e.path().filename().string().rfind(mine, 0) == 0 ? 1 : 0;
    return n;
  };
  {
    auto remote = make_grpc_client(mlp(), opt, [](const std::string&, double) {});
    auto local = surrogates::make_local_client(mlp());
    for (std::int64_t n : {100, 3000}) {  // 3000 rows outgrow the first segment (1024 rows)
      std::vector<float> x(static_cast<std::size_t>(2 * n)), a(static_cast<std::size_t>(n)),
          b(static_cast<std::size_t>(n));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.001f * static_cast<float>(i % 977);
      remote->infer(x.data(), n, a.data());
      local->infer(x.data(), n, b.data());
      for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], 1e-6) << "row " << i << " of " << n;
    }
    EXPECT_NE(remote->describe().find("shared memory"), std::string::npos);
    EXPECT_EQ(regions(), 2) << "the grown segment replaced the first one";
    EXPECT_EQ(shm_names(), 0) << "the name goes as soon as the server has mapped it";
  }
  EXPECT_EQ(regions(), 0) << "the client unregisters at its end";
}

// The caller's own buffers in shared memory (io_buffers): calls on pointers
// in them, whole or a slice of rows, copy nothing and reference the rows where
// they lie; a call on other memory is staged apart and leaves them untouched.
TEST_P(ServerTest, SharedMemoryIoBuffersAreReferencedInPlace) {
  RemoteOptions opt;
  opt.endpoints = {server->endpoint()};
  opt.shared_memory = true;
  opt.model_suffix = "-buffers";
  auto regions = [&] { return registered_regions(server->endpoint()); };
  constexpr std::int64_t n = 1500;
  auto local = surrogates::make_local_client(mlp());
  std::vector<float> x(2 * n), want(n), got(n);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.002f * static_cast<float>(i % 613) - 0.5f;
  local->infer(x.data(), n, want.data());
  {
    auto remote = make_grpc_client(mlp(), opt, [](const std::string&, double) {});
    const auto io = remote->io_buffers(n);
    ASSERT_NE(io.in, nullptr);
    ASSERT_NE(io.out, nullptr);
    std::copy(x.begin(), x.end(), io.in);
    std::fill(io.out, io.out + n, -7.0f);
    remote->infer(io.in, n, io.out);
    for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(io.out[i], want[i], 1e-6) << "row " << i;
    EXPECT_EQ(remote->bytes_copied(), 0) << "no tensor byte copied";
    EXPECT_EQ(regions(), 2) << "no staging segment while every tensor is in the caller's buffers";
    // A slice of rows [700, 1000): the references carry the slice's offsets.
    std::fill(io.out, io.out + n, -7.0f);
    remote->infer(io.in + 2 * 700, 300, io.out + 700);
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(io.out[i], i >= 700 && i < 1000 ? want[i] : -7.0f, 1e-6) << "row " << i;
    EXPECT_EQ(remote->bytes_copied(), 0);
    // Other memory is staged: copied, and the caller's buffers keep their rows.
    std::vector<float> y(8);
    remote->infer(x.data() + 2 * 100, 8, y.data());
    for (std::int64_t i = 0; i < 8; ++i) ASSERT_NEAR(y[i], want[100 + i], 1e-6);
    EXPECT_EQ(remote->bytes_copied(), 8 * 2 * 4 + 8 * 4);
    EXPECT_EQ(regions(), 4);
    for (std::int64_t i = 0; i < 2 * n; ++i) ASSERT_EQ(io.in[i], x[i]) << "input " << i << " of the caller's buffers";
    EXPECT_NEAR(io.out[0], -7.0f, 1e-6) << "the staged call wrote its output apart";
    // Inputs in the buffers, outputs elsewhere: only the outputs are copied.
    remote->infer(io.in, n, got.data());
    for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-6) << "row " << i;
    EXPECT_EQ(remote->bytes_copied(), 8 * 2 * 4 + 8 * 4 + n * 4);
  }
  EXPECT_EQ(regions(), 0) << "the client unregisters both segments at its end";
  opt.shared_memory = false;
  opt.model_suffix = "-bytes";
  auto bytes = make_grpc_client(mlp(), opt, [](const std::string&, double) {});
  EXPECT_EQ(bytes->io_buffers(n).in, nullptr) << "tensor bytes in the requests: no buffers to offer";
}

TEST_P(ServerTest, AModelReplacedBehindTheClientsBackFailsTheCall) {
  auto remote = make_grpc_client(mlp(), RemoteOptions{{server->endpoint()}, 5, 1, 0, 0, ""}, [](auto&, double) {});
  std::vector<float> x(2 * 8, 0.5f), y(8);
  remote->infer(x.data(), 8, y.data());
  // Someone else loads a model of the same name and shape (it answers 123 for
  // everything in the original report); the run must not go on with it.
  server->load_model("unit", "", 2, 1);
  try {
    remote->infer(x.data(), 8, y.data());
    FAIL() << "the call must fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("replaced by someone else"), std::string::npos) << e.what();
  }
}

TEST_P(ServerTest, ProtocolErrorsAndMetadata) {
  auto remote = make_grpc_client(mlp(), RemoteOptions{{server->endpoint()}, 5, 1, 0, 0, ""}, [](auto&, double) {});
  grpc::ChannelArguments args;
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateCustomChannel(server->endpoint(), grpc::InsecureChannelCredentials(), args));
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest q;
    q.set_name("unit");
    inference::ModelMetadataResponse r;
    ASSERT_TRUE(stub->ModelMetadata(&ctx, q, &r).ok());
    EXPECT_EQ(r.inputs(0).shape(1), 2);
    EXPECT_EQ(r.outputs(0).shape(1), 1);
    EXPECT_EQ(r.platform(), "pytorch_libtorch");
  }
  {
    grpc::ClientContext ctx;
    inference::ModelInferRequest q;
    q.set_model_name("nope");
    inference::ModelInferResponse r;
    EXPECT_EQ(stub->ModelInfer(&ctx, q, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    inference::ModelInferRequest q;
    q.set_model_name("unit");
    auto* in = q.add_inputs();
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(3);  // wrong width
    q.add_raw_input_contents(std::string(12, '\0'));
    inference::ModelInferResponse r;
    EXPECT_EQ(stub->ModelInfer(&ctx, q, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_P(ServerTest, ConcurrentRequestsAreBatchedWhenEnabled) {
  server->load_model("echo", "", 4, 4);
  grpc::ChannelArguments args;
  auto channel = grpc::CreateCustomChannel(server->endpoint(), grpc::InsecureChannelCredentials(), args);
  std::vector<std::thread> threads;
  std::vector<long> batch_rows(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto stub = inference::GRPCInferenceService::NewStub(channel);
      grpc::ClientContext ctx;
      inference::ModelInferRequest q;
      q.set_model_name("echo");
      auto* in = q.add_inputs();
      in->set_datatype("FP32");
      in->add_shape(2);
      in->add_shape(4);
      std::vector<float> v(8, static_cast<float>(t));
      q.add_raw_input_contents(std::string(reinterpret_cast<char*>(v.data()), 32));
      inference::ModelInferResponse r;
      ASSERT_TRUE(stub->ModelInfer(&ctx, q, &r).ok());
      ASSERT_EQ(r.raw_output_contents(0).size(), 32u);
      EXPECT_EQ(reinterpret_cast<const float*>(r.raw_output_contents(0).data())[7], static_cast<float>(t));
      batch_rows[static_cast<std::size_t>(t)] = static_cast<long>(r.parameters().at("batch_rows").int64_param());
    });
  }
  for (auto& t : threads) t.join();
  const long biggest = *std::max_element(batch_rows.begin(), batch_rows.end());
  if (GetParam() > 0)
    EXPECT_GT(biggest, 2) << "eight concurrent requests within the queue delay should share a batch";
  else
    EXPECT_EQ(biggest, 2);
}

// A call of one request per server goes on one ModelStreamInfer stream per
// server, opened once for the client's life; the answers are those of unary
// calls and of the model in process, through training, with tensors as bytes
// or in shared memory. A call split into more requests than servers is unary.
TEST_P(ServerTest, StreamedCallsMatchUnaryCallsWithOneStreamPerServer) {
  surrogates::ServerOptions o;
  o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-unit2.sock";
  o.max_batch_rows = GetParam();
  auto second = surrogates::start_server(o);
  for (bool shared_memory : {false, true}) {
    RemoteOptions opt;
    opt.endpoints = {server->endpoint(), second->endpoint()};
    opt.shared_memory = shared_memory;
    std::map<std::string, int> seen;
    opt.model_suffix = shared_memory ? "-s1" : "-s0";
    auto streamed = make_grpc_client(mlp(), opt, [&](const std::string& c, double) { seen[c]++; });
    opt.stream = false;
    opt.model_suffix += "u";
    std::map<std::string, int> seen_unary;
    auto unary = make_grpc_client(mlp(), opt, [&](const std::string& c, double) { seen_unary[c]++; });
    auto local = surrogates::make_local_client(mlp());
    std::vector<float> x(2 * 100), y(100, 0.25f), a(100), b(100), c(100);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i);
    for (int round = 0; round < 2; ++round) {
      for (int call = 0; call < 3; ++call) {
        streamed->infer(x.data(), 100, a.data());
        unary->infer(x.data(), 100, b.data());
        local->infer(x.data(), 100, c.data());
        for (int i = 0; i < 100; ++i) {
          ASSERT_NEAR(a[i], c[i], 1e-6) << "streamed, row " << i;
          ASSERT_NEAR(b[i], c[i], 1e-6) << "unary, row " << i;
        }
      }
      // New weights on both servers: the open streams serve them.
      for (auto* m : {streamed.get(), unary.get(), local.get()}) m->train(x.data(), y.data(), 100, TrainOptions{20, 20, 1});
    }
    EXPECT_EQ(seen["rpc_stream_open"], 2) << "one stream per server, kept across calls and weight pushes";
    EXPECT_EQ(seen["rpc_roundtrip"], 12) << "6 calls of one request to each of 2 servers";
    EXPECT_EQ(seen_unary["rpc_stream_open"], 0);
    EXPECT_EQ(seen_unary["rpc_roundtrip"], 12);
    EXPECT_NE(streamed->describe().find("ModelStreamInfer"), std::string::npos);
    EXPECT_EQ(unary->describe().find("ModelStreamInfer"), std::string::npos);
  }
  // Requests of 16 rows: more than the servers, so unary and concurrent.
  RemoteOptions opt;
  opt.endpoints = {server->endpoint()};
  opt.request_rows = 16;
  std::map<std::string, int> seen;
  auto split = make_grpc_client(mlp(), opt, [&](const std::string& c, double) { seen[c]++; });
  std::vector<float> x(2 * 100, 0.5f), y(100);
  split->infer(x.data(), 100, y.data());
  EXPECT_EQ(seen["rpc_stream_open"], 0);
  EXPECT_EQ(seen["rpc_roundtrip"], 7);
}

// A streamed request the server refuses fails the call with the server's
// reason; the stream stays open for the next call.
TEST_P(ServerTest, AStreamedRequestTheServerRefusesFailsTheCallWithItsReason) {
  RemoteOptions opt;
  opt.endpoints = {server->endpoint()};
  opt.check_version = false;
  std::map<std::string, int> seen;
  auto remote = make_grpc_client(mlp(), opt, [&](const std::string& c, double) { seen[c]++; });
  std::vector<float> x(2 * 8, 0.5f), y(8);
  remote->infer(x.data(), 8, y.data());
  server->load_model("unit", "", 3, 3);  // another shape under the same name
  try {
    remote->infer(x.data(), 8, y.data());
    FAIL() << "the call must fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("expected shape [N, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(server->endpoint()), std::string::npos) << e.what();
  }
  server->load_model("unit", "", 2, 2);  // identity of the right input shape; one output too many
  try {
    remote->infer(x.data(), 8, y.data());
    FAIL() << "the call must fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(seen["rpc_stream_open"], 1) << "a refused request does not end the stream";
}

// Several clients' streams to one server at once: each request is computed
// apart from the others' (the server hands them to its compute threads once a
// second stream opens, and back to its I/O thread when one is left), and every
// answer is the model's in process.
TEST_P(ServerTest, SeveralClientsStreamToOneServerAtOnce) {
  constexpr int kClients = 3, kCalls = 40;
  std::vector<std::string> errors(kClients);
  std::vector<int> opened(kClients, 0);
  std::vector<std::unique_ptr<SurrogateClient>> remotes, locals;
  for (int t = 0; t < kClients; ++t) {
    RemoteOptions opt;
    opt.endpoints = {server->endpoint()};
    opt.shared_memory = t == 1;
    opt.model_suffix = "-c" + std::to_string(t);
    remotes.push_back(make_grpc_client(mlp(), opt, [&, t](const std::string& c, double) {
      if (c == "rpc_stream_open") ++opened[static_cast<std::size_t>(t)];
    }));
    locals.push_back(surrogates::make_local_client(mlp()));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto& remote = remotes[static_cast<std::size_t>(t)];
        auto& local = locals[static_cast<std::size_t>(t)];
        std::vector<float> x(2 * 50), a(50), b(50);
        for (int call = 0; call < kCalls; ++call) {
          for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.001f * static_cast<float>(i * (t + 1) + call);
          remote->infer(x.data(), 50, a.data());
          local->infer(x.data(), 50, b.data());
          for (int i = 0; i < 50; ++i)
            if (std::fabs(a[i] - b[i]) > 1e-6f) throw std::runtime_error("call " + std::to_string(call) + " row " +
                                                                        std::to_string(i) + " differs");
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kClients; ++t) {
    EXPECT_EQ(errors[static_cast<std::size_t>(t)], "") << "client " << t;
    EXPECT_EQ(opened[static_cast<std::size_t>(t)], 1) << "client " << t << ": one stream for all its calls";
  }
  // One client left: the same server still answers it, on the I/O thread.
  auto remote = make_grpc_client(mlp(), RemoteOptions{{server->endpoint()}, 5, 1, 0, 0, "-alone"}, [](auto&, double) {});
  auto local = surrogates::make_local_client(mlp());
  std::vector<float> x(2 * 8, 0.25f), a(8), b(8);
  remote->infer(x.data(), 8, a.data());
  local->infer(x.data(), 8, b.data());
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(a[i], b[i], 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Batching, ServerTest, ::testing::Values(0L, 64L));

// How a streamed wait is planned (PollPlan), times in ns from a start of 1 s.
TEST(PollPlan, ShortWaitsPollFromTheStartAndRegularLongOnesAroundWhenTheirMessagesCame) {
  constexpr std::int64_t kStart = 1'000'000'000, kPoll = 50'000;
  PollPlan off(0, true);
  off.record(kStart, kStart + 10'000, kStart + 9'000);
  EXPECT_EQ(off.plan(kStart).poll_until_ns, 0) << "no window: never polls";
  EXPECT_EQ(off.plan(kStart).sleep_until_ns, 0);

  PollPlan p(kPoll, true);
  PollPlan::Wait w = p.plan(kStart);
  EXPECT_TRUE(w.short_wait) << "nothing known yet: a window from the start";
  EXPECT_EQ(w.poll_until_ns, kStart + kPoll);
  EXPECT_EQ(w.sleep_until_ns, 0);
  p.record(kStart, kStart + 2 * kPoll, kStart + 2 * kPoll);  // within twice the window: still short
  EXPECT_TRUE(p.plan(kStart).short_wait);

  // Long waits whose messages were sent 600..670 us after the start, found
  // later (the thread slept): the plan follows when they were sent, once
  // half the history is there.
  PollPlan few(kPoll, true);
  for (int i = 0; i < 3; ++i) few.record(kStart, kStart + 900'000, kStart + 600'000);
  EXPECT_EQ(few.plan(kStart).poll_until_ns, 0) << "three waits known: not yet";
  few.record(kStart, kStart + 900'000, kStart + 600'000);
  EXPECT_GT(few.plan(kStart).sleep_until_ns, 0) << "four";
  for (int i = 7; i >= 0; --i) p.record(kStart, kStart + 900'000, kStart + 600'000 + 10'000 * i);
  w = p.plan(kStart);
  EXPECT_FALSE(w.short_wait);
  EXPECT_EQ(w.sleep_until_ns, kStart + 600'000 - kPoll) << "a window before the earliest (no timer lateness yet)";
  EXPECT_EQ(w.poll_until_ns, kStart + 660'000 + kPoll) << "a window after the third quartile";
  p.record_lateness(30'000);
  p.record_lateness(10'000);
  p.record_lateness(20'000);
  EXPECT_EQ(p.late_ns(), 20'000) << "the median lateness";
  EXPECT_EQ(p.plan(kStart).sleep_until_ns, kStart + 600'000 - kPoll - 20'000) << "woken that much earlier";

  // A pause (a training step between calls): the next message tends to come
  // early, so the wait after an irregular one is slept through; one regular
  // wait later the plan is back.
  p.record(kStart, kStart + 80'000'000, kStart + 79'000'000);
  EXPECT_EQ(p.plan(kStart).poll_until_ns, 0);
  p.record(kStart, kStart + 900'000, kStart + 640'000);
  EXPECT_GT(p.plan(kStart).sleep_until_ns, 0);
  // A new stream forgets the last one's waits.
  p.forget();
  EXPECT_TRUE(p.plan(kStart).short_wait);

  // Irregular waits (median more than kMaxSpreadWindows windows after the
  // earliest): slept through.
  PollPlan spread(kPoll, true);
  for (int i = 7; i >= 0; --i) spread.record(kStart, kStart + 2'000'000, kStart + 400'000 + 60'000 * i);
  EXPECT_EQ(spread.plan(kStart).poll_until_ns, 0);
  EXPECT_EQ(spread.plan(kStart).sleep_until_ns, 0);
  // Most regular, a few late (a server whose compute sometimes takes
  // longer): polled from before the earliest to kMaxSpreadWindows windows
  // past it and one more, not to the late ones.
  PollPlan tail(kPoll, true);
  for (std::int64_t c : {1'000'000, 950'000, 900'000, 640'000, 630'000, 620'000, 610'000, 600'000})
    tail.record(kStart, kStart + c + 90'000, kStart + c);
  w = tail.plan(kStart);
  EXPECT_EQ(w.sleep_until_ns, kStart + 600'000 - kPoll);
  EXPECT_EQ(w.poll_until_ns, kStart + 600'000 + PollPlan::kMaxSpreadWindows * kPoll + kPoll);
  // The same waits with their median just beyond that reach: slept through.
  PollPlan wide(kPoll, true);
  for (std::int64_t c : {1'000'000, 950'000, 900'000, 801'000, 630'000, 620'000, 610'000, 600'000})
    wide.record(kStart, kStart + c + 90'000, kStart + c);
  EXPECT_EQ(wide.plan(kStart).poll_until_ns, 0);

  // Sent before the wait began (already there): poll from the start, no sleep.
  PollPlan early(kPoll, true);
  for (int i = 0; i < 8; ++i) early.record(kStart, kStart + 300'000, kStart - 5'000);
  w = early.plan(kStart);
  EXPECT_EQ(w.sleep_until_ns, 0);
  EXPECT_EQ(w.poll_until_ns, kStart + kPoll);

  // Not known when the messages were sent (another host's clock): a thread
  // that polled from when it found them would learn its own lateness, so it
  // sleeps until they come.
  PollPlan unknown(kPoll, true);
  for (int i = 0; i < 8; ++i) unknown.record(kStart, kStart + 700'000, 0);
  EXPECT_EQ(unknown.plan(kStart).poll_until_ns, 0);
  EXPECT_EQ(unknown.plan(kStart).sleep_until_ns, 0);

  // Off by default (ahead false), and for waits beyond kMaxAheadNs.
  PollPlan passive(kPoll, false), slow(kPoll, true);
  for (int i = 0; i < 8; ++i) {
    passive.record(kStart, kStart + 700'000, kStart + 650'000);
    slow.record(kStart, kStart + PollPlan::kMaxAheadNs + 2'000'000, kStart + PollPlan::kMaxAheadNs + 1'000'000);
  }
  EXPECT_EQ(passive.plan(kStart).poll_until_ns, 0);
  EXPECT_EQ(slow.plan(kStart).poll_until_ns, 0);
  EXPECT_EQ(slow.plan(kStart).sleep_until_ns, 0);
}

TEST(PollPlan, ASleepLastsUntilItsTimeAndItsLatenessIsLearned) {
  PollPlan p(50'000, true);
  const std::int64_t until = PollPlan::now_ns() + 2'000'000;
  p.sleep_until(until);
  EXPECT_GE(PollPlan::now_ns(), until);
  EXPECT_GE(p.late_ns(), 0);
  EXPECT_LT(p.late_ns(), 1'000'000'000) << "lateness is measured from the time asked, not from the start";
}

// coupling.poll_ahead on a server and its client on a Unix socket (a window
// of 1 us, so every wait is a long one and both sides sleep and poll ahead):
// the answers are the model's in process, with pauses between calls (the
// server sleeps ahead of requests that do not come yet) and a second client
// joining mid-way (the server's thread leaves its plan for several streams).
TEST(GrpcClient, PollingAheadOnBothSidesGivesTheModelsAnswers) {
  surrogates::ServerOptions o;
  o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-ahead.sock";
  o.poll_us = 1;
  o.poll_ahead = true;
  auto srv = surrogates::start_server(o);
  RemoteOptions opt;
  opt.endpoints = {srv->endpoint()};
  opt.poll_us = 1;
  opt.poll_ahead = true;
  for (bool shared_memory : {false, true}) {
    opt.shared_memory = shared_memory;
    opt.model_suffix = shared_memory ? "-a1" : "-a0";
    int legs = 0;
    auto remote = make_grpc_client(mlp(), opt, [&](const std::string& c, double) { legs += c == "rpc_request_leg"; });
    auto local = surrogates::make_local_client(mlp());
    EXPECT_NE(remote->describe().find("later ones from just before they are due"), std::string::npos)
        << remote->describe();
    std::vector<float> x(2 * 64), a(64), b(64);
    std::unique_ptr<SurrogateClient> other, other_local;
    for (int call = 0; call < 30; ++call) {
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.003f * static_cast<float>(i + call);
      if (call % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      if (call == 15) {
        RemoteOptions second = opt;
        second.model_suffix += "-second";
        other = make_grpc_client(mlp(), second, [](auto&, double) {});
        other_local = surrogates::make_local_client(mlp());
      }
      remote->infer(x.data(), 64, a.data());
      local->infer(x.data(), 64, b.data());
      for (int i = 0; i < 64; ++i) ASSERT_NEAR(a[i], b[i], 1e-6) << "call " << call << " row " << i;
      if (other) {
        other->infer(x.data(), 64, a.data());
        other_local->infer(x.data(), 64, b.data());
        for (int i = 0; i < 64; ++i) ASSERT_NEAR(a[i], b[i], 1e-6) << "second client, call " << call << " row " << i;
      }
    }
    EXPECT_EQ(legs, 30) << "the server on this host stamps every answer";
  }
}

// Open streams are bounded by --concurrency + --max-queue: one more is
// refused with the reason, and a closed stream's place is free again.
TEST(GrpcClient, AServerRefusesStreamsBeyondItsConcurrencyAndQueue) {
  surrogates::ServerOptions o;
  o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-cap.sock";
  o.grpc_threads = 1;
  o.max_queue = 0;
  auto server = surrogates::start_server(o);
  std::vector<float> x(2 * 8, 0.5f), y(8);
  auto first = make_grpc_client(mlp(), RemoteOptions{{server->endpoint()}, 5, 1, 0, 0, "-a"}, [](auto&, double) {});
  first->infer(x.data(), 8, y.data());
  {
    auto second = make_grpc_client(mlp(), RemoteOptions{{server->endpoint()}, 5, 1, 0, 0, "-b"}, [](auto&, double) {});
    try {
      second->infer(x.data(), 8, y.data());
      FAIL() << "a second stream must be refused";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("1 ModelStreamInfer streams open"), std::string::npos) << e.what();
    }
  }
  first.reset();  // closes its stream
  for (int attempt = 0;; ++attempt) {  // the server sees the close a moment later
    auto third = make_grpc_client(mlp(), RemoteOptions{{server->endpoint()}, 5, 1, 0, 0, "-c"}, [](auto&, double) {});
    try {
      third->infer(x.data(), 8, y.data());
      break;
    } catch (const std::runtime_error& e) {
      ASSERT_LT(attempt, 50) << e.what();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

// A server with --concurrency 1 computes every stream's requests on the
// thread that reads them (no compute thread): two clients calling at once
// from two threads, one through shared memory and one with the tensors'
// bytes, each get their own answers, the model's in process.
TEST(GrpcClient, AOneRequestAtATimeServerAnswersTwoStreamsAtOnce) {
  surrogates::ServerOptions o;
  o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-serial.sock";
  o.grpc_threads = 1;
  auto server = surrogates::start_server(o);
  std::array<std::string, 2> failures;
  std::vector<std::thread> callers;
  for (int k = 0; k < 2; ++k)
    callers.emplace_back([&, k] {
      try {
        RemoteOptions opt{{server->endpoint()}, 5, 1, 0, 0, k == 0 ? "-s0" : "-s1"};
        opt.shared_memory = k == 0;
        auto remote = make_grpc_client(mlp(), opt, [](auto&, double) {});
        auto local = surrogates::make_local_client(mlp());
        std::vector<float> x(2 * 256), a(256), b(256);
        for (int call = 0; call < 40; ++call) {
          for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.002f * static_cast<float>(i) - 0.1f * static_cast<float>(k + call);
          remote->infer(x.data(), 256, a.data());
          local->infer(x.data(), 256, b.data());
          for (int i = 0; i < 256; ++i)
            if (std::abs(a[i] - b[i]) > 1e-5f)
              throw std::runtime_error("call " + std::to_string(call) + " row " + std::to_string(i) + ": " +
                                       std::to_string(a[i]) + " against " + std::to_string(b[i]));
        }
      } catch (const std::exception& e) {
        failures[static_cast<std::size_t>(k)] = e.what();
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures[0], "") << "the shared-memory client";
  EXPECT_EQ(failures[1], "") << "the bytes client";
}

// A KServe-style server: ModelInfer, no ModelStreamInfer (gRPC answers
// UNIMPLEMENTED), an identity model for whatever is pushed.
class UnaryOnlyService final : public inference::GRPCInferenceService::Service {
 public:
  grpc::Status RepositoryModelLoad(grpc::ServerContext*, const inference::RepositoryModelLoadRequest*,
                                   inference::RepositoryModelLoadResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    r->set_name(q->name());
    r->add_versions("1");
    return grpc::Status::OK;
  }
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* q,
                          inference::ModelInferResponse* r) override {
    ++calls;
    r->set_model_version("1");
    r->add_outputs()->set_name("OUTPUT__0");
    const std::string& in = q->raw_input_contents(0);  // [N, 2]: the first column out
    std::string out(in.size() / 2, '\0');
    for (std::size_t row = 0; row < in.size() / 8; ++row) std::memcpy(&out[row * 4], &in[row * 8], 4);
    *r->add_raw_output_contents() = out;
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};
};

TEST(GrpcClient, AServerWithoutStreamingGetsUnaryCalls) {
  UnaryOnlyService service;
  grpc::ServerBuilder b;
  const std::string where = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-kserve.sock";
  b.AddListeningPort(where, grpc::InsecureServerCredentials());
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server);
  RemoteOptions opt;
  opt.endpoints = {where};
  auto remote = make_grpc_client(mlp(), opt, [](const std::string&, double) {});
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, y(3);
  for (int call = 0; call < 3; ++call) {
    std::fill(y.begin(), y.end(), 0.0f);
    remote->infer(x.data(), 3, y.data());
    EXPECT_EQ(y, (std::vector<float>{1, 3, 5}));
  }
  EXPECT_EQ(service.calls.load(), 3) << "one unary call per inference, after the stream was refused once";
  EXPECT_EQ(remote->describe().find("ModelStreamInfer stream"), std::string::npos) << remote->describe();
  EXPECT_NE(remote->describe().find("unary calls to the servers without ModelStreamInfer"), std::string::npos);
  remote.reset();
  server->Shutdown();
}

// A server that goes away under an open stream: the next call fails at once,
// naming the server, and the client still closes cleanly.
TEST(GrpcClient, AStreamToAServerThatGoesAwayFailsTheCallNamingIt) {
  surrogates::ServerOptions o;
  o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-gone.sock";
  auto server = surrogates::start_server(o);
  const std::string where = server->endpoint();
  RemoteOptions opt;
  opt.endpoints = {where};
  opt.timeout_s = 30;  // the failure must come from the closed stream, not the deadline
  auto remote = make_grpc_client(mlp(), opt, [](const std::string&, double) {});
  std::vector<float> x(2 * 8, 0.5f), y(8);
  remote->infer(x.data(), 8, y.data());
  server.reset();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    remote->infer(x.data(), 8, y.data());
    FAIL() << "the call must fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("inference server " + where + " failed"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  remote.reset();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
}


TEST(GrpcClient, UnreachableServerIsAClearErrorNotAHang) {
  auto t0 = std::chrono::steady_clock::now();
  try {
    wait_server_ready("127.0.0.1:" + std::to_string(free_loopback_port()), 1.0);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

}  // namespace
}  // namespace motifbench::detail
