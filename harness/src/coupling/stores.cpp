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

// Segment layout: [std::uint64_t size][bytes].
class ShmStore final : public StagingStore {
 public:
  explicit ShmStore(std::string prefix) : m_prefix(std::move(prefix)) {}
  ~ShmStore() override {
    for (const auto& name : m_created) {
      shm_unlink(name.c_str());
      forget_shm_segment(name);
    }
  }
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    const std::string name = segment(key);
    int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("shared memory: shm_open " + name + ": " + std::strerror(errno));
    if (m_created.insert(name).second) remember_shm_segment(name);
    const std::size_t total = sizeof(std::uint64_t) + bytes;
    if (ftruncate(fd, static_cast<off_t>(total)) != 0) {
      close(fd);
      throw std::runtime_error("shared memory: ftruncate " + name + ": " + std::strerror(errno));
    }
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) throw std::runtime_error("shared memory: mmap " + name + ": " + std::strerror(errno));
    std::uint64_t n = bytes;
    std::memcpy(p, &n, sizeof n);
    std::memcpy(static_cast<char*>(p) + sizeof n, data, bytes);
    munmap(p, total);
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    const std::string name = segment(key);
    int fd = shm_open(name.c_str(), O_RDONLY, 0600);
    if (fd < 0) {
      if (errno == ENOENT) return false;
      throw std::runtime_error("shared memory: shm_open " + name + ": " + std::strerror(errno));
    }
    struct stat st {};
    fstat(fd, &st);
    if (static_cast<std::size_t>(st.st_size) < sizeof(std::uint64_t)) {
      close(fd);
      return false;
    }
    void* p = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) throw std::runtime_error("shared memory: mmap " + name + ": " + std::strerror(errno));
    std::uint64_t n = 0;
    std::memcpy(&n, p, sizeof n);
    out.assign(static_cast<const char*>(p) + sizeof n, static_cast<const char*>(p) + sizeof n + n);
    munmap(p, static_cast<std::size_t>(st.st_size));
    return true;
  }
  void erase(const std::string& key) override {
    const std::string name = segment(key);
    shm_unlink(name.c_str());
    if (m_created.erase(name)) forget_shm_segment(name);
  }
  std::string describe() const override { return "POSIX shared memory /dev/shm" + m_prefix + ".*"; }
  std::string kind() const override { return "shm"; }

 private:
  std::string segment(const std::string& key) const {
    std::uint64_t h = 1469598103934665603ULL;
    for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    char buf[24];
    std::snprintf(buf, sizeof buf, ".%016llx", static_cast<unsigned long long>(h));
    return m_prefix + buf;
  }
  std::string m_prefix;
  std::set<std::string> m_created;
};

class FileStore final : public StagingStore {
 public:
  explicit FileStore(std::string dir) : m_dir(std::move(dir)) { std::filesystem::create_directories(m_dir); }
  ~FileStore() override {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
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
  RedisStore(std::string host, int port, double timeout_s) : m_host(std::move(host)), m_port(port) {
    timeval tv{static_cast<time_t>(timeout_s), static_cast<suseconds_t>((timeout_s - static_cast<long>(timeout_s)) * 1e6)};
    m_ctx = redisConnectWithTimeout(m_host.c_str(), m_port, tv);
    if (m_ctx == nullptr || m_ctx->err) {
      std::string why = m_ctx ? m_ctx->errstr : "out of memory";
      if (m_ctx) redisFree(m_ctx);
      m_ctx = nullptr;
      throw std::runtime_error("redis at " + where() + " is unreachable: " + why);
    }
    redisSetTimeout(m_ctx, tv);
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
std::unique_ptr<StagingStore> make_redis_store(const std::string& host, int port, double timeout_s) {
  return std::make_unique<RedisStore>(host, port, timeout_s);
}

}  // namespace motifbench::detail
