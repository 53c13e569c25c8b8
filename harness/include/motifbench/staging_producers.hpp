// Many producers, one consumer: N threads of this process, each with its own
// handle on the staging store (as a rank or a task would have), put slices of
// one buffer under keys of their own; the caller, the consumer, gets them back.
// With N beyond the core count, staging is studied under oversubscription.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "motifbench/staging.hpp"

namespace motifbench {

/// Threading: put() and get() from one thread (the consumer's), in turns.
class StagingProducers {
 public:
  /// Opens `producers` handles on `store` (StagingStore::another) and starts
  /// a thread for each; they wait for put().
  StagingProducers(const StagingStore& store, int producers);
  ~StagingProducers();
  StagingProducers(const StagingProducers&) = delete;
  StagingProducers& operator=(const StagingProducers&) = delete;

  /// Producer k puts records [k n / N, (k+1) n / N) of `data` (each `record_bytes`
  /// long) under `key + "/" + k`, all at once; returns when all are stored.
  /// Rethrows a producer's exception.
  void put(const std::string& key, const void* data, std::size_t records, std::size_t record_bytes);
  /// Gets the N slices through `consumer` into `out`, in order; false when a
  /// slice is missing.
  bool get(StagingStore& consumer, const std::string& key, std::vector<char>& out);
  int size() const { return static_cast<int>(m_stores.size()); }

 private:
  void loop(int k);

  std::vector<std::unique_ptr<StagingStore>> m_stores;
  std::mutex m_mutex;
  std::condition_variable m_work, m_done;
  std::string m_key;
  const char* m_data = nullptr;
  std::size_t m_records = 0, m_record_bytes = 0;
  std::size_t m_generation = 0;
  int m_finished = 0;
  bool m_stop = false;
  std::exception_ptr m_error;
  std::vector<char> m_slice;
  std::vector<std::thread> m_threads;  // last: start once everything above exists
};

}  // namespace motifbench
