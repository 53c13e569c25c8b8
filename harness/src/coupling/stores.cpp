#include "coupling/stores.hpp"

#include <fcntl.h>
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

}  // namespace

std::unique_ptr<StagingStore> make_memory_store() { return std::make_unique<MemoryStore>(); }
std::unique_ptr<StagingStore> make_shm_store(const std::string& prefix) { return std::make_unique<ShmStore>(prefix); }
std::unique_ptr<StagingStore> make_file_store(const std::string& dir) { return std::make_unique<FileStore>(dir); }

}  // namespace motifbench::detail
