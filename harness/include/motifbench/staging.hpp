// The data plane between components: training samples, stage outputs, frames.
//
// A StagingStore is a key -> bytes store. The implementation follows the
// coupling mode (in-memory for tight, POSIX shared memory for semi-tight, a
// real Redis server for loose, files on disk as the classic baseline), and the
// mini-app code is the same for all of them.
//
// Threading: one handle per thread; another() opens one more on the same
// store (what one handle puts, the others get). put/get block until done or until the
// store's timeout; a store whose backend fails (Redis gone, disk full) throws
// std::runtime_error naming the component, which ends the run.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace motifbench {

class StagingStore {
 public:
  virtual ~StagingStore() = default;
  /// Stores a copy of bytes under key, replacing what was there.
  virtual void put(const std::string& key, const void* data, std::size_t bytes) = 0;
  /// Fetches key into out; false when the key does not exist.
  virtual bool get(const std::string& key, std::vector<char>& out) = 0;
  virtual void erase(const std::string& key) = 0;
  /// e.g. "redis 127.0.0.1:40123 (redis_version 7.0.15)".
  virtual std::string describe() const = 0;
  /// Short name: memory | shm | redis | file.
  virtual std::string kind() const = 0;
  /// A new handle on the same store, for another thread (a Redis store opens
  /// another connection). Throws std::runtime_error as the constructor would.
  virtual std::unique_ptr<StagingStore> another() const = 0;
};

}  // namespace motifbench
