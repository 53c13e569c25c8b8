#include "coupling/stores.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "coupling/services.hpp"

namespace motifbench::detail {
namespace {

class MemoryStore final : public StagingStore {
 public:
  MemoryStore() : m_state(std::make_shared<State>()) {}
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    std::lock_guard<std::mutex> lock(m_state->mutex);
    auto& v = m_state->map[key];
    v.assign(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    std::lock_guard<std::mutex> lock(m_state->mutex);
    auto it = m_state->map.find(key);
    if (it == m_state->map.end()) return false;
    out = it->second;
    return true;
  }
  void erase(const std::string& key) override {
    std::lock_guard<std::mutex> lock(m_state->mutex);
    m_state->map.erase(key);
  }
  std::string describe() const override { return "in-process memory"; }
  std::string kind() const override { return "memory"; }
  std::unique_ptr<StagingStore> another() const override { return std::unique_ptr<StagingStore>(new MemoryStore(m_state)); }

 private:
  // Shared by the handles of one store (another()).
  struct State {
    std::mutex mutex;
    std::map<std::string, std::vector<char>> map;
  };
  explicit MemoryStore(std::shared_ptr<State> state) : m_state(std::move(state)) {}
  std::shared_ptr<State> m_state;
};

// One segment per key, shared by every rank of the node: its name is the
// node's prefix (64 random bits that rank 0 of the node chose, so no other
// user can predict it) and a hash of the key, so any rank finds a key that
// another put. Layout: a header (a sequence number, the value's size, the
// key's length), the key (to refuse a hash collision), then the value. The
// first put creates the segment (O_CREAT | O_EXCL, mode 0600); later puts,
// by any rank, copy into it, growing it (to the next power of two) only when
// needed, and never shrinking it. Writers take the sequence number from even
// to odd and back (one writer at a time); readers copy and retry when it
// moved (a seqlock), so a get never returns half of a put. Each rank maps a
// segment once and remaps only when another rank grew it. The rank that
// created a segment unlinks it when its store goes (or erase() does), marking
// it unlinked first, so that a handle still mapping it lets it go and finds
// the key's next segment, if any.
class ShmStore final : public StagingStore {
 public:
  explicit ShmStore(std::string prefix) : m_prefix(std::move(prefix)) {}
  ~ShmStore() override {
    for (auto& [key, seg] : m_segments) release(seg);
  }
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    Segment& seg = segment(key, true);
    const std::size_t need = data_offset(key) + bytes;
    // Writer lock (the sequence number from even to odd), held while growing
    // too, so that two ranks never race an ftruncate into a shrink.
    for (Patience wait(seg.name);; wait()) {
      std::uint64_t s = header(seg)->seq.load(std::memory_order_relaxed);
      if ((s & 1) == 0 && header(seg)->seq.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) break;
    }
    if (seg.capacity < need) {  // this rank's mapping is short: grown elsewhere, or to grow
      if (current_size(seg) < need) grow(seg, need);
      remap(seg);
    }
    header(seg)->size = bytes;
    std::memcpy(static_cast<char*>(seg.map) + data_offset(key), data, bytes);
    header(seg)->seq.fetch_add(1, std::memory_order_release);
  }
  bool get(const std::string& key, std::vector<char>& out) override {
    Segment* seg = find(key);
    if (seg == nullptr) return false;
    for (Patience wait(seg->name);; wait()) {
      auto* h = header(*seg);
      const std::uint64_t s1 = h->seq.load(std::memory_order_acquire);
      if (s1 & 1) continue;  // a put is writing
      const std::uint64_t n = h->size;
      if (data_offset(key) + n > seg->capacity) {  // another rank grew it
        remap(*seg);
        continue;
      }
      const char* p = static_cast<const char*>(seg->map) + data_offset(key);
      out.assign(p, p + n);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (h->seq.load(std::memory_order_relaxed) == s1) return s1 != 0;  // 0: created, never put
    }
  }
  void erase(const std::string& key) override {
    auto it = m_segments.find(key);
    if (it != m_segments.end()) {
      it->second.created = true;  // whoever erases unlinks
      release(it->second);
      m_segments.erase(it);
    } else {
      shm_unlink(segment_name(key).c_str());
    }
  }
  std::string describe() const override {
    return "POSIX shared memory /dev/shm" + m_prefix + ".* (one segment per key, shared by the node's ranks)";
  }
  std::unique_ptr<StagingStore> another() const override { return std::make_unique<ShmStore>(m_prefix);
  }
  std::string kind() const override { return "shm"; }

 private:
  // A put holds a segment for microseconds; one held for seconds belongs to a
  // rank that died mid-put, so waiting for it ends in an error, not a hang.
  class Patience {
   public:
    explicit Patience(const std::string& name) : m_name(name), m_deadline(std::chrono::steady_clock::now() + kLimit) {}
    void operator()() {
      if ((++m_spins & 1023) == 0 && std::chrono::steady_clock::now() > m_deadline)
        throw std::runtime_error("shared memory: " + m_name +
                                 " has been held by a put for over 5 s (a rank died while writing it?)");
    }

   private:
    static constexpr std::chrono::seconds kLimit{5};
    const std::string& m_name;
    std::chrono::steady_clock::time_point m_deadline;
    std::uint64_t m_spins = 0;
  };
  struct Header {
    std::atomic<std::uint64_t> seq;
    std::uint64_t size;
    std::atomic<std::uint64_t> key_bytes;  // the key's length + 1, once it is written (0 before)
    std::atomic<std::uint64_t> unlinked;   // 1 once its creator unlinked it: mappings of it are stale
  };
  struct Segment {
    std::string name;
    int fd = -1;
    void* map = nullptr;
    std::size_t capacity = 0;
    bool created = false;  // by this store: unlinked when it goes
  };
  static Header* header(Segment& seg) { return static_cast<Header*>(seg.map); }
  static std::size_t data_offset(const std::string& key) { return sizeof(Header) + (key.size() + 7) / 8 * 8; }
  std::string segment_name(const std::string& key) const {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : key) h = (h ^ c) * 1099511628211ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return m_prefix + "." + hex;
  }
  // This rank's mapping of `key`, opening (or, for a put, creating) it.
  Segment& segment(const std::string& key, bool create) {
    if (Segment* seg = find(key)) return *seg;
    if (!create) throw std::logic_error("ShmStore::segment");
    Segment seg;
    seg.name = segment_name(key);
    seg.fd = shm_open(seg.name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (seg.fd >= 0) {
      seg.created = true;
      remember_shm_segment(seg.name);
      grow(seg, data_offset(key));
      std::memcpy(static_cast<char*>(seg.map) + sizeof(Header), key.data(), key.size());
      header(seg)->key_bytes.store(key.size() + 1, std::memory_order_release);  // the key is there
      return m_segments.emplace(key, seg).first->second;
    }
    if (errno != EEXIST)
      throw std::runtime_error("shared memory: shm_open " + seg.name + ": " + std::strerror(errno));
    if (Segment* other = find(key)) return *other;  // another rank created it meanwhile
    throw std::runtime_error("shared memory: " + seg.name + " exists but cannot be opened");
  }
  // This handle's mapping of `key`, or the segment another rank created;
  // nullptr when there is none. A mapping whose creator has unlinked it is
  // stale: it is let go, and the key's new segment (if any) opened.
  Segment* find(const std::string& key) {
    auto it = m_segments.find(key);
    if (it != m_segments.end()) {
      if (header(it->second)->unlinked.load(std::memory_order_acquire) == 0) return &it->second;
      it->second.created = false;  // not ours to unlink: the name may be the key's next segment
      release(it->second);
      m_segments.erase(it);
    }
    Segment seg;
    seg.name = segment_name(key);
    seg.fd = shm_open(seg.name.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (seg.fd < 0) return nullptr;
    struct stat st {};
    if (fstat(seg.fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
      close(seg.fd);
      throw std::runtime_error("shared memory: " + seg.name + " is not this user's owner-only segment: refusing it");
    }
    // Its creator may not have sized it yet: wait for the header (bounded).
    for (int i = 0; i < 10000 && current_size(seg) < sizeof(Header); ++i) usleep(100);
    if (current_size(seg) < sizeof(Header)) {
      close(seg.fd);
      return nullptr;
    }
    remap(seg);
    auto* h = header(seg);
    for (int i = 0; i < 10000 && h->key_bytes.load(std::memory_order_acquire) == 0; ++i) usleep(100);
    if (h->key_bytes.load(std::memory_order_acquire) != key.size() + 1 ||
        std::memcmp(static_cast<char*>(seg.map) + sizeof(Header), key.data(), key.size()) != 0) {
      release(seg);
      throw std::runtime_error("shared memory: two keys share the segment " + seg.name + " (hash collision)");
    }
    return &m_segments.emplace(key, seg).first->second;
  }
  static std::size_t current_size(const Segment& seg) {
    struct stat st {};
    return fstat(seg.fd, &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
  }
  // Grows the object (never shrinks it) and maps it whole.
  static void grow(Segment& seg, std::size_t total) {
    std::size_t cap = 4096;
    while (cap < total) cap *= 2;
    if (current_size(seg) < cap && ftruncate(seg.fd, static_cast<off_t>(cap)) != 0)
      throw std::runtime_error("shared memory: ftruncate " + seg.name + ": " + std::strerror(errno));
    remap(seg);
  }
  static void remap(Segment& seg) {
    const std::size_t size = current_size(seg);
    if (seg.map != nullptr && size == seg.capacity) return;
    if (seg.map != nullptr) munmap(seg.map, seg.capacity);
    seg.map = nullptr;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, seg.fd, 0);
    if (p == MAP_FAILED) throw std::runtime_error("shared memory: mmap " + seg.name + ": " + std::strerror(errno));
    seg.map = p;
    seg.capacity = size;
  }
  static void release(Segment& seg) {
    if (seg.created && seg.map != nullptr) header(seg)->unlinked.store(1, std::memory_order_release);
    if (seg.map != nullptr) munmap(seg.map, seg.capacity);
    if (seg.fd >= 0) close(seg.fd);
    if (seg.created) {
      shm_unlink(seg.name.c_str());
      forget_shm_segment(seg.name);
    }
    seg.map = nullptr;
    seg.fd = -1;
  }
  std::string m_prefix;
  std::map<std::string, Segment> m_segments;
};

// Files under a private folder made with mkdtemp (mode 0700): nothing at a
// predictable path, so a planted symbolic link is never followed.
class FileStore final : public StagingStore {
 public:
  explicit FileStore(const std::string& base) : m_dir(std::make_shared<PrivateDir>(base)) {}
  void put(const std::string& key, const void* data, std::size_t bytes) override {
    const auto path = file(key);
    // A temporary name per handle: handles of other threads may put the same key.
    const auto tmp = path + ".tmp" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
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
  std::string describe() const override { return "files under " + m_dir->path; }
  std::string kind() const override { return "file"; }
  std::unique_ptr<StagingStore> another() const override { return std::unique_ptr<StagingStore>(new FileStore(m_dir)); }

 private:
  // The folder, removed with the last handle.
  struct PrivateDir {
    explicit PrivateDir(const std::string& base) {
      std::filesystem::create_directories(base);
      std::string templ = base + "/motifbench-" + std::to_string(getpid()) + "-XXXXXX";
      if (mkdtemp(templ.data()) == nullptr)
        throw std::runtime_error("file store: cannot create a private folder under " + base + ": " + std::strerror(errno));
      path = templ;
      remember_file(path);
    }
    ~PrivateDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
      forget_file(path);
    }
    std::string path;
  };
  explicit FileStore(std::shared_ptr<PrivateDir> dir) : m_dir(std::move(dir)) {}
  std::string file(const std::string& key) const {
    std::string safe = key;
    for (char& c : safe)
      if (c == '/' || c == ' ') c = '_';
    return m_dir->path + "/" + safe;
  }
  std::shared_ptr<PrivateDir> m_dir;
};

}  // namespace

std::unique_ptr<StagingStore> make_memory_store() { return std::make_unique<MemoryStore>(); }
std::unique_ptr<StagingStore> make_shm_store(const std::string& prefix) { return std::make_unique<ShmStore>(prefix); }
std::unique_ptr<StagingStore> make_file_store(const std::string& dir) { return std::make_unique<FileStore>(dir); }

}  // namespace motifbench::detail
