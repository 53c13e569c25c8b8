#include "coupling/stores.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "coupling/services.hpp"

namespace motifbench::detail {
namespace {

class MemoryStore final : public StagingStore {
 public:
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    auto& v = m_map[key];
    v.assign(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    auto it = m_map.find(key);
    if (it == m_map.end()) return false;
    out = it->second;
    return true;
  }
  void erase(const std::string& key) override { m_map.erase(key); }
  std::string describe() const override { return "in-process memory"; }
  std::string kind() const override { return "memory"; }

 private:
  std::map<std::string, std::vector<char>> m_map;
};

// Segment layout: [std::uint64_t size][bytes]. One segment per key, created
// once (O_CREAT | O_EXCL, mode 0600, a name no other user can predict: the
// prefix carries 64 random bits) and mapped once; later puts of the key copy
// into the mapping, growing it (to the next power of two) only when needed.
class ShmStore final : public StagingStore {
 public:
  explicit ShmStore(std::string prefix) : m_prefix(std::move(prefix) + "-" + random_hex(8)) {}
  ~ShmStore() override {
    for (auto& [key, seg] : m_segments) release(seg);
  }
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    const std::size_t total = sizeof(std::uint64_t) + bytes;
    auto it = m_segments.find(key);
    if (it == m_segments.end()) it = m_segments.emplace(key, create(segment_name())).first;
    Segment& seg = it->second;
    if (seg.capacity < total) grow(seg, total);
    std::uint64_t n = bytes;
    std::memcpy(seg.map, &n, sizeof n);
    std::memcpy(static_cast<char*>(seg.map) + sizeof n, data, bytes);
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    auto it = m_segments.find(key);
    if (it == m_segments.end() || it->second.map == nullptr) return false;
    std::uint64_t n = 0;
    std::memcpy(&n, it->second.map, sizeof n);
    const char* p = static_cast<const char*>(it->second.map) + sizeof n;
    out.assign(p, p + n);
    return true;
  }
  void erase(const std::string& key) override {
    auto it = m_segments.find(key);
    if (it == m_segments.end()) return;
    release(it->second);
    m_segments.erase(it);
  }
  std::string describe() const override { return "POSIX shared memory /dev/shm" + m_prefix + ".*"; }
  std::string kind() const override { return "shm"; }

 private:
  struct Segment {
    std::string name;
    int fd = -1;
    void* map = nullptr;
    std::size_t capacity = 0;
  };
  std::string segment_name() { return m_prefix + "." + std::to_string(m_next++); }
  Segment create(const std::string& name) {
    Segment seg;
    seg.name = name;
    seg.fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (seg.fd < 0)
      throw std::runtime_error("shared memory: shm_open " + name + ": " + std::strerror(errno) +
                               (errno == EEXIST ? " (a segment of that name exists already: refusing to use it)" : ""));
    remember_shm_segment(name);
    return seg;
  }
  void grow(Segment& seg, std::size_t total) {
    std::size_t cap = 4096;
    while (cap < total) cap *= 2;
    if (seg.map != nullptr) munmap(seg.map, seg.capacity);
    seg.map = nullptr;
    if (ftruncate(seg.fd, static_cast<off_t>(cap)) != 0)
      throw std::runtime_error("shared memory: ftruncate " + seg.name + ": " + std::strerror(errno));
    void* p = mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_SHARED, seg.fd, 0);
    if (p == MAP_FAILED) throw std::runtime_error("shared memory: mmap " + seg.name + ": " + std::strerror(errno));
    seg.map = p;
    seg.capacity = cap;
  }
  static void release(Segment& seg) {
    if (seg.map != nullptr) munmap(seg.map, seg.capacity);
    if (seg.fd >= 0) close(seg.fd);
    shm_unlink(seg.name.c_str());
    forget_shm_segment(seg.name);
    seg.map = nullptr;
    seg.fd = -1;
  }
  std::string m_prefix;
  std::uint64_t m_next = 0;
  std::map<std::string, Segment> m_segments;
};

// Files under a private folder made with mkdtemp (mode 0700): nothing at a
// predictable path, so a planted symbolic link is never followed.
class FileStore final : public StagingStore {
 public:
  explicit FileStore(const std::string& base) {
    std::filesystem::create_directories(base);
    std::string templ = base + "/motifbench-" + std::to_string(getpid()) + "-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("file store: cannot create a private folder under " + base + ": " + std::strerror(errno));
    m_dir = templ;
    remember_file(m_dir);
  }
  ~FileStore() override {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
    forget_file(m_dir);
  }
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    const auto path = file(key);
    const auto tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
      if (!out) throw std::runtime_error("file store: cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path);
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    std::ifstream in(file(key), std::ios::binary | std::ios::ate);
    if (!in) return false;
    out.resize(static_cast<std::size_t>(in.tellg()));
    in.seekg(0);
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    return static_cast<bool>(in);
  }
  void erase(const std::string& key) override { std::filesystem::remove(file(key)); }
  std::string describe() const override { return "files under " + m_dir; }
  std::string kind() const override { return "file"; }

 private:
  std::string file(const std::string& key) const {
    std::string safe = key;
    for (char& c : safe)
      if (c == '/' || c == ' ') c = '_';
    return m_dir + "/" + safe;
  }
  std::string m_dir;
};

class RedisStore final : public StagingStore {
 public:
  RedisStore(std::string host, int port, double timeout_s, const std::string& password)
      : m_host(std::move(host)), m_port(port) {
    timeval tv{static_cast<time_t>(timeout_s), static_cast<suseconds_t>((timeout_s - static_cast<long>(timeout_s)) * 1e6)};
    m_ctx = redisConnectWithTimeout(m_host.c_str(), m_port, tv);
    if (m_ctx == nullptr || m_ctx->err) {
      std::string why = m_ctx ? m_ctx->errstr : "out of memory";
      if (m_ctx) redisFree(m_ctx);
      m_ctx = nullptr;
      throw std::runtime_error("redis at " + where() + " is unreachable: " + why);
    }
    redisSetTimeout(m_ctx, tv);
    if (!password.empty()) freeReplyObject(command_args("AUTH %s", password.c_str()));
    auto* r = command("INFO server");
    std::string info(r->str ? r->str : "", r->len);
    freeReplyObject(r);
    auto pos = info.find("redis_version:");
    if (pos != std::string::npos) m_version = info.substr(pos + 14, info.find('\r', pos) - pos - 14);
  }
  ~RedisStore() override {
    if (m_ctx) redisFree(m_ctx);
  }
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    freeReplyObject(command_args("SET %b %b", key.data(), key.size(), data, bytes));
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    auto* r = command_args("GET %b", key.data(), key.size());
    bool found = r->type == REDIS_REPLY_STRING;
    if (found) out.assign(r->str, r->str + r->len);
    freeReplyObject(r);
    return found;
  }
  void erase(const std::string& key) override { freeReplyObject(command_args("DEL %b", key.data(), key.size())); }
  std::string describe() const override { return "redis " + where() + " (redis_version " + m_version + ")"; }
  std::string kind() const override { return "redis"; }

 private:
  std::string where() const { return m_host + ":" + std::to_string(m_port); }
  redisReply* check(void* reply) {
    auto* r = static_cast<redisReply*>(reply);
    if (r == nullptr) throw std::runtime_error("redis at " + where() + " failed: " + (m_ctx->errstr[0] ? m_ctx->errstr : "no reply"));
    if (r->type == REDIS_REPLY_ERROR) {
      std::string e(r->str, r->len);
      freeReplyObject(r);
      throw std::runtime_error("redis at " + where() + " answered an error: " + e);
    }
    return r;
  }
  redisReply* command(const char* cmd) {
    if (m_ctx->err) throw std::runtime_error("redis at " + where() + " failed: " + m_ctx->errstr);
    return check(redisCommand(m_ctx, cmd));
  }
  template <class... A>
  redisReply* command_args(const char* fmt, A... args) {
    if (m_ctx->err) throw std::runtime_error("redis at " + where() + " failed: " + m_ctx->errstr);
    return check(redisCommand(m_ctx, fmt, args...));
  }
  std::string m_host;
  int m_port;
  std::string m_version = "unknown";
  redisContext* m_ctx = nullptr;
};

}  // namespace

std::unique_ptr<StagingStore> make_memory_store() { return std::make_unique<MemoryStore>(); }
std::unique_ptr<StagingStore> make_shm_store(const std::string& prefix) { return std::make_unique<ShmStore>(prefix); }
std::unique_ptr<StagingStore> make_file_store(const std::string& dir) { return std::make_unique<FileStore>(dir); }
std::unique_ptr<StagingStore> make_redis_store(const std::string& host, int port, double timeout_s,
                                               const std::string& password) {
  return std::make_unique<RedisStore>(host, port, timeout_s, password);
}

}  // namespace motifbench::detail
