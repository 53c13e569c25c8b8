// `motifbench serve` against hostile and careless clients (CTest label
// security): every request gets a proper gRPC status, the server stays up and
// keeps serving good requests, and its threads and memory stay bounded.
// Everything is on a Unix socket in the test's temporary folder.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "inference.grpc.pb.h"
#include "motifbench/surrogates/local.hpp"
#include "motifbench/surrogates/server.hpp"

namespace motifbench {
namespace {

using Code = grpc::StatusCode;

long process_threads() {
  long n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) n += e.is_directory() ? 1 : 0;
  return n;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

std::string torchscript_2_to_1() {
  SurrogateSpec s;
  s.in_features = 2;
  s.out_features = 1;
  s.hidden = {8};
  s.seed = 5;
  const std::string path = ::testing::TempDir() + "/hostile_" + std::to_string(getpid()) + ".pt";
  surrogates::make_local_client(s)->save(path);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  return bytes;
}

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    surrogates::ServerOptions o;
    o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-hostile.sock";
    o.grpc_threads = 2;
    o.max_queue = 256;
    o.max_models = 16;
    o.max_message_bytes = 8L << 20;  // 8 MiB: a 100 MB message is far beyond it
    server = surrogates::start_server(o);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(-1);
    channel = grpc::CreateCustomChannel(server->endpoint(), grpc::InsecureChannelCredentials(), args);
    stub = inference::GRPCInferenceService::NewStub(channel);
    server->load_model("id2", "", 2, 2);
  }
  grpc::Status infer(const inference::ModelInferRequest& q, inference::ModelInferResponse* r = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    inference::ModelInferResponse local;
    return stub->ModelInfer(&ctx, q, r ? r : &local);
  }
  static inference::ModelInferRequest request(const std::string& model, std::vector<std::int64_t> shape,
                                              std::size_t raw_bytes, const std::string& type = "FP32") {
    inference::ModelInferRequest q;
    q.set_model_name(model);
    auto* in = q.add_inputs();
    in->set_name("INPUT__0");
    in->set_datatype(type);
    for (auto d : shape) in->add_shape(d);
    q.add_raw_input_contents(std::string(raw_bytes, '\0'));
    return q;
  }
  grpc::Status load(const std::string& name, const std::string& bytes, long in, long out) {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name(name);
    (*q.mutable_parameters())["file:model.pt"].set_bytes_param(bytes);
    (*q.mutable_parameters())["in_features"].set_int64_param(in);
    (*q.mutable_parameters())["out_features"].set_int64_param(out);
    inference::RepositoryModelLoadResponse r;
    return stub->RepositoryModelLoad(&ctx, q, &r);
  }
  void expect_still_serving() {
    inference::ModelInferResponse r;
    auto st = infer(request("id2", {3, 2}, 24), &r);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(r.raw_output_contents(0).size(), 24u);
  }
  std::unique_ptr<surrogates::InferenceServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
};

TEST_F(Hostile, MalformedInferRequestsGetAStatusNotACrash) {
  EXPECT_EQ(infer(request("nope", {1, 2}, 8)).error_code(), Code::NOT_FOUND);
  EXPECT_EQ(infer(request("id2", {1, 2}, 8, "INT32")).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(request("id2", {0, 2}, 0)).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(request("id2", {-4, 2}, 0)).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(request("id2", {std::int64_t{1} << 61, 2}, 0)).error_code(), Code::INVALID_ARGUMENT)
      << "2^61 rows with no data once returned OK";
  EXPECT_EQ(infer(request("id2", {1, (std::int64_t{1} << 62) + 1}, 4)).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(request("id2", {4, 2}, 31)).error_code(), Code::INVALID_ARGUMENT) << "contents shorter";
  EXPECT_EQ(infer(request("id2", {4, 2}, 33)).error_code(), Code::INVALID_ARGUMENT) << "contents longer";
  EXPECT_EQ(infer(request("id2", {2, 2, 2}, 32)).error_code(), Code::INVALID_ARGUMENT) << "rank 3";
  inference::ModelInferRequest none;
  none.set_model_name("id2");
  EXPECT_EQ(infer(none).error_code(), Code::INVALID_ARGUMENT) << "no input";
  // 100 MB against an 8 MiB limit: refused by the transport, server up.
  EXPECT_EQ(infer(request("id2", {12500000, 2}, 100000000)).error_code(), Code::RESOURCE_EXHAUSTED);
  expect_still_serving();
}

TEST_F(Hostile, TypedContentsAreAccepted) {
  inference::ModelInferRequest q;
  q.set_model_name("id2");
  auto* in = q.add_inputs();
  in->set_datatype("FP32");
  in->add_shape(2);
  in->add_shape(2);
  for (float v : {1.0f, 2.0f, 3.0f, 4.0f}) in->mutable_contents()->add_fp32_contents(v);
  inference::ModelInferResponse r;
  auto st = infer(q, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<float> out(4);
  std::memcpy(out.data(), r.raw_output_contents(0).data(), 16);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4}));
  in->mutable_contents()->add_fp32_contents(5.0f);  // one value too many
  EXPECT_EQ(infer(q).error_code(), Code::INVALID_ARGUMENT);
}

TEST_F(Hostile, BadModelLoadsAreRefused) {
  EXPECT_EQ(load("garbage", "this is not TorchScript", 2, 1).error_code(), Code::INVALID_ARGUMENT);
  const std::string ts = torchscript_2_to_1();
  EXPECT_EQ(load("liar", ts, 3, 1).error_code(), Code::INVALID_ARGUMENT) << "declares 3 inputs, takes 2";
  EXPECT_EQ(load("liar", ts, 2, 4).error_code(), Code::INVALID_ARGUMENT) << "declares 4 outputs, gives 1";
  EXPECT_EQ(load("huge", ts, (1L << 62) + 1, 1).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(load("neg", ts, -2, 1).error_code(), Code::INVALID_ARGUMENT);
  ASSERT_TRUE(load("good", ts, 2, 1).ok());
  expect_still_serving();
}

TEST_F(Hostile, ReloadsWithAnotherShapeDuringInferenceNeverCrash) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, other{0};
  server->load_model("shifty", "", 2, 0);
  std::thread reloader([&] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    for (int i = 1; std::chrono::steady_clock::now() < end; ++i) {
      server->load_model("shifty", "", i % 2 ? 3 : 2, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop = true;
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&] {
      auto stub2 = inference::GRPCInferenceService::NewStub(channel);
      while (!stop) {
        grpc::ClientContext ctx;
        inference::ModelInferResponse r;
        auto st = stub2->ModelInfer(&ctx, request("shifty", {512, 2}, 512 * 2 * 4), &r);
        if (st.ok() && r.raw_output_contents(0).size() == 512 * 2 * 4)
          ++ok;
        else if (st.error_code() == Code::INVALID_ARGUMENT || st.error_code() == Code::NOT_FOUND)
          ++refused;
        else
          ++other;
      }
    });
  reloader.join();
  for (auto& c : clients) c.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0) << "a request must be served with its version's shape or refused";
  expect_still_serving();
}

TEST_F(Hostile, SixtyFourClientsQueueInsteadOfBeingRefused) {
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 64; ++t)
    clients.emplace_back([&] {
      auto stub2 = inference::GRPCInferenceService::NewStub(channel);
      for (int i = 0; i < 20; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        inference::ModelInferResponse r;
        if (stub2->ModelInfer(&ctx, request("id2", {4096, 2}, 4096 * 8), &r).ok())
          ++ok;
        else
          ++failed;
      }
    });
  // Health checks are answered while every slot is busy.
  int live = 0;
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    inference::ServerLiveResponse r;
    live += stub->ServerLive(&ctx, inference::ServerLiveRequest(), &r).ok() ? 1 : 0;
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0) << "with --concurrency 2 and --max-queue 256, 64 clients queue";
  EXPECT_EQ(ok.load(), 64 * 20);
  EXPECT_EQ(live, 20);
}

TEST_F(Hostile, ModelTableAndThreadsAreBounded) {
  const long threads_before = process_threads();
  int refused = 0;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("m" + std::to_string(i));
    (*q.mutable_parameters())["identity"].set_bool_param(true);
    (*q.mutable_parameters())["in_features"].set_int64_param(2);
    inference::RepositoryModelLoadResponse r;
    auto st = stub->RepositoryModelLoad(&ctx, q, &r);
    if (!st.ok()) {
      EXPECT_EQ(st.error_code(), Code::RESOURCE_EXHAUSTED);
      ++refused;
    }
  }
  EXPECT_EQ(refused, 200 - (16 - 1)) << "16 models at most (one is loaded already)";
  EXPECT_LE(process_threads(), threads_before + 8);
  grpc::ClientContext ctx;
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub->RepositoryIndex(&ctx, inference::RepositoryIndexRequest(), &index).ok());
  EXPECT_EQ(index.models_size(), 16);
}

TEST_F(Hostile, StatisticsCountSuccessAndFailure) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(infer(request("id2", {3, 2}, 24)).ok());
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(infer(request("id2", {3, 2}, 20)).ok());
  grpc::ClientContext ctx;
  inference::ModelStatisticsRequest q;
  q.set_name("id2");
  inference::ModelStatisticsResponse r;
  ASSERT_TRUE(stub->ModelStatistics(&ctx, q, &r).ok());
  ASSERT_EQ(r.model_stats_size(), 1);
  EXPECT_EQ(r.model_stats(0).inference_stats().success().count(), 5u);
  EXPECT_EQ(r.model_stats(0).inference_stats().fail().count(), 2u);
  EXPECT_EQ(r.model_stats(0).inference_count(), 15u);  // rows
}

TEST(HostileAuth, ModelCallsNeedTheRunsTokenHealthChecksDoNot) {
  surrogates::ServerOptions o;
  o.listen = "unix:" + ::testing::TempDir() + "/motifbench-" + std::to_string(getpid()) + "-auth.sock";
  o.token = "0123456789abcdef0123456789abcdef";
  auto server = surrogates::start_server(o);
  server->load_model("id2", "", 2, 2);
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(server->endpoint(), grpc::InsecureChannelCredentials()));
  auto call = [&](const std::string& auth) {
    grpc::ClientContext ctx;
    if (!auth.empty()) ctx.AddMetadata("authorization", auth);
    inference::ModelInferRequest q;
    q.set_model_name("id2");
    auto* in = q.add_inputs();
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(2);
    q.add_raw_input_contents(std::string(8, '\0'));
    inference::ModelInferResponse r;
    return stub->ModelInfer(&ctx, q, &r).error_code();
  };
  EXPECT_EQ(call(""), Code::UNAUTHENTICATED);
  EXPECT_EQ(call("Bearer 0123456789abcdef0123456789abcdee"), Code::UNAUTHENTICATED);
  EXPECT_EQ(call("Bearer 0123456789abcdef0123456789abcdef"), Code::OK);
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("id2");
    (*q.mutable_parameters())["identity"].set_bool_param(true);
    (*q.mutable_parameters())["in_features"].set_int64_param(2);
    inference::RepositoryModelLoadResponse r;
    EXPECT_EQ(stub->RepositoryModelLoad(&ctx, q, &r).error_code(), Code::UNAUTHENTICATED)
        << "nobody without the token can replace a run's model";
  }
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryRegisterRequest q;
    q.set_name("r");
    q.set_key("/motifbench-any");
    q.set_byte_size(8);
    inference::SystemSharedMemoryRegisterResponse r;
    EXPECT_EQ(stub->SystemSharedMemoryRegister(&ctx, q, &r).error_code(), Code::UNAUTHENTICATED);
  }
  grpc::ClientContext ctx;
  inference::ServerLiveResponse live;
  EXPECT_TRUE(stub->ServerLive(&ctx, inference::ServerLiveRequest(), &live).ok());
}

// An owner-only shared-memory object of `bytes`, mapped, removed at scope exit.
struct Segment {
  std::string key;
  std::size_t bytes = 0;
  float* data = nullptr;
  Segment(const std::string& tag, std::size_t n) : key("/motifbench-" + std::to_string(getpid()) + "-" + tag), bytes(n) {
    ::shm_unlink(key.c_str());
    const int fd = ::shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(n)) != 0) throw std::runtime_error("shm " + key);
    data = static_cast<float*>(::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (fchown_to_nobody) {
      if (::fchown(fd, 65534, 65534) != 0) throw std::runtime_error("fchown");
    }
    ::close(fd);
  }
  ~Segment() {
    ::munmap(data, bytes);
    ::shm_unlink(key.c_str());
  }
  static inline bool fchown_to_nobody = false;
};

void set_ref(google::protobuf::Map<std::string, inference::InferParameter>& p, const std::string& region,
             std::int64_t offset, std::int64_t bytes) {
  p["shared_memory_region"].set_string_param(region);
  p["shared_memory_offset"].set_int64_param(offset);
  p["shared_memory_byte_size"].set_int64_param(bytes);
}

// Triton's system shared-memory extension: registration checks the object and
// the bounds, requests name regions instead of carrying bytes, and every bad
// reference is a status.
TEST_F(Hostile, SharedMemoryRegionsAreCheckedAndCarryTheTensors) {
  Segment seg("hostile-io", 4096);
  auto reg = [&](const std::string& name, const std::string& key, std::uint64_t offset, std::uint64_t size) {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryRegisterRequest q;
    q.set_name(name);
    q.set_key(key);
    q.set_offset(offset);
    q.set_byte_size(size);
    inference::SystemSharedMemoryRegisterResponse r;
    return stub->SystemSharedMemoryRegister(&ctx, q, &r).error_code();
  };
  EXPECT_EQ(reg("a", "/motifbench-no-such-segment", 0, 64), Code::INVALID_ARGUMENT);
  EXPECT_EQ(reg("a", "relative", 0, 64), Code::INVALID_ARGUMENT);
  EXPECT_EQ(reg("a", "/a/b", 0, 64), Code::INVALID_ARGUMENT);
  EXPECT_EQ(reg("a", seg.key, 0, 4097), Code::INVALID_ARGUMENT) << "beyond the object's size";
  EXPECT_EQ(reg("a", seg.key, 4000, 200), Code::INVALID_ARGUMENT);
  EXPECT_EQ(reg("a", seg.key, ~0ULL - 8, 64), Code::INVALID_ARGUMENT) << "offset + size overflows";
  EXPECT_EQ(reg("a", seg.key, 0, 0), Code::INVALID_ARGUMENT);
  ASSERT_EQ(reg("in", seg.key, 0, 2048), Code::OK);
  ASSERT_EQ(reg("out", seg.key, 2048, 2048), Code::OK);
  EXPECT_EQ(reg("in", seg.key, 0, 64), Code::ALREADY_EXISTS);

  // A good request: 3 rows of the identity model, in at 0, out at 2048 + 16.
  for (int i = 0; i < 6; ++i) seg.data[i] = 1.5f * static_cast<float>(i + 1);
  auto shm_request = [&](const std::string& in_region, std::int64_t in_off, std::int64_t in_bytes,
                         const std::string& out_region, std::int64_t out_off) {
    inference::ModelInferRequest q;
    q.set_model_name("id2");
    auto* in = q.add_inputs();
    in->set_name("INPUT__0");
    in->set_datatype("FP32");
    in->add_shape(3);
    in->add_shape(2);
    set_ref(*in->mutable_parameters(), in_region, in_off, in_bytes);
    auto* out = q.add_outputs();
    out->set_name("OUTPUT__0");
    set_ref(*out->mutable_parameters(), out_region, out_off, 24);
    return q;
  };
  inference::ModelInferResponse r;
  auto st = infer(shm_request("in", 0, 24, "out", 16), &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.raw_output_contents_size(), 0) << "the output went into the region, not the response";
  for (int i = 0; i < 6; ++i) EXPECT_EQ(seg.data[512 + 4 + i], 1.5f * static_cast<float>(i + 1));

  EXPECT_EQ(infer(shm_request("nope", 0, 24, "out", 0)).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(shm_request("in", 0, 20, "out", 0)).error_code(), Code::INVALID_ARGUMENT) << "size must match";
  EXPECT_EQ(infer(shm_request("in", 2040, 24, "out", 0)).error_code(), Code::INVALID_ARGUMENT) << "outside";
  EXPECT_EQ(infer(shm_request("in", -8, 24, "out", 0)).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(shm_request("in", 0, 24, "out", 2040)).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(infer(shm_request("in", std::numeric_limits<std::int64_t>::max(), 24, "out", 0)).error_code(),
            Code::INVALID_ARGUMENT);
  {
    auto q = shm_request("in", 0, 24, "out", 0);
    q.add_raw_input_contents(std::string(24, '\0'));
    EXPECT_EQ(infer(q).error_code(), Code::INVALID_ARGUMENT) << "a reference and contents at once";
  }
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryStatusResponse sr;
    ASSERT_TRUE(stub->SystemSharedMemoryStatus(&ctx, inference::SystemSharedMemoryStatusRequest(), &sr).ok());
    ASSERT_EQ(sr.regions_size(), 2);
    EXPECT_EQ(sr.regions().at("out").offset(), 2048u);
    EXPECT_EQ(sr.regions().at("out").key(), seg.key);
  }
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryUnregisterRequest q;
    q.set_name("in");
    inference::SystemSharedMemoryUnregisterResponse ur;
    ASSERT_TRUE(stub->SystemSharedMemoryUnregister(&ctx, q, &ur).ok());
  }
  EXPECT_EQ(infer(shm_request("in", 0, 24, "out", 0)).error_code(), Code::INVALID_ARGUMENT) << "unregistered";
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryStatusRequest q;
    q.set_name("in");
    inference::SystemSharedMemoryStatusResponse sr;
    EXPECT_EQ(stub->SystemSharedMemoryStatus(&ctx, q, &sr).error_code(), Code::NOT_FOUND);
  }
  // The region table is bounded (--max-shm-regions, 256 by default).
  int refused = 0;
  for (int i = 0; i < 300; ++i)
    if (reg("many" + std::to_string(i), seg.key, 0, 64) == Code::RESOURCE_EXHAUSTED) ++refused;
  EXPECT_EQ(refused, 300 - 255);
  expect_still_serving();
}

// Only the server's own user's objects: as root, an object owned by nobody is refused.
TEST_F(Hostile, SharedMemoryOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make an object owned by another user";
  Segment::fchown_to_nobody = true;
  Segment seg("hostile-other", 4096);
  Segment::fchown_to_nobody = false;
  grpc::ClientContext ctx;
  inference::SystemSharedMemoryRegisterRequest q;
  q.set_name("other");
  q.set_key(seg.key);
  q.set_byte_size(64);
  inference::SystemSharedMemoryRegisterResponse r;
  EXPECT_EQ(stub->SystemSharedMemoryRegister(&ctx, q, &r).error_code(), Code::INVALID_ARGUMENT);
}

// A bounded fuzz of the request path: random shapes, sizes, datatypes and
// contents; every answer is a status, the server survives, memory is flat.
TEST_F(Hostile, FuzzedRequestsLeaveTheServerUpAndItsMemoryFlat) {
  std::mt19937_64 rng(42);
  const std::vector<std::string> types{"FP32", "FP16", "INT64", "BYTES", ""};
  const std::vector<std::int64_t> dims{0, 1, 2, 3, -1, 7, 1024, std::int64_t{1} << 31, std::int64_t{1} << 62,
                                       -(std::int64_t{1} << 62)};
  auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      inference::ModelInferRequest q;
      q.set_model_name(rng() % 8 ? "id2" : "nope");
      const int inputs = static_cast<int>(rng() % 3);
      for (int k = 0; k < inputs; ++k) {
        auto* in = q.add_inputs();
        in->set_datatype(types[rng() % types.size()]);
        const int rank = static_cast<int>(rng() % 4);
        for (int d = 0; d < rank; ++d) in->add_shape(dims[rng() % dims.size()]);
        if (rng() % 4 == 0)
          for (int v = 0; v < static_cast<int>(rng() % 16); ++v) in->mutable_contents()->add_fp32_contents(1.0f);
      }
      const int raws = static_cast<int>(rng() % 3);
      for (int k = 0; k < raws; ++k) q.add_raw_input_contents(std::string(rng() % 4096, 'x'));
      (void)infer(q);
    }
  };
  round(500);  // warm: allocator pools settle
  const long rss_before = rss_kib();
  round(2000);
  const long rss_after = rss_kib();
  EXPECT_LT(rss_after - rss_before, 32 * 1024) << "RSS grew by " << (rss_after - rss_before) << " KiB";
  expect_still_serving();
}

}  // namespace
}  // namespace motifbench
