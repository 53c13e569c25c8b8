#include "motifbench/staging_producers.hpp"

#include <stdexcept>

namespace motifbench {

StagingProducers::StagingProducers(const StagingStore& store, int producers) {
  if (producers < 1) throw std::invalid_argument("StagingProducers needs at least one producer");
  for (int k = 0; k < producers; ++k) m_stores.push_back(store.another());
  for (int k = 0; k < producers; ++k) m_threads.emplace_back([this, k] { loop(k); });
}

StagingProducers::~StagingProducers() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stop = true;
  }
  m_work.notify_all();
  for (auto& t : m_threads) t.join();
}

void StagingProducers::put(const std::string& key, const void* data, std::size_t records, std::size_t record_bytes) {
  std::unique_lock<std::mutex> lock(m_mutex);
  m_key = key;
  m_data = static_cast<const char*>(data);
  m_records = records;
  m_record_bytes = record_bytes;
  m_finished = 0;
  m_error = nullptr;
  ++m_generation;
  m_work.notify_all();
  m_done.wait(lock, [&] { return m_finished == size(); });
  if (m_error) std::rethrow_exception(m_error);
}

bool StagingProducers::get(StagingStore& consumer, const std::string& key, std::vector<char>& out) {
  out.clear();
  for (int k = 0; k < size(); ++k) {
    if (!consumer.get(key + "/" + std::to_string(k), m_slice)) return false;
    out.insert(out.end(), m_slice.begin(), m_slice.end());
  }
  return true;
}

void StagingProducers::loop(int k) {
  std::size_t seen = 0;
  const std::size_t n = m_stores.size();
  for (;;) {
    std::string key;
    const char* data = nullptr;
    std::size_t first = 0, last = 0, record_bytes = 0;
    {
      std::unique_lock<std::mutex> lock(m_mutex);
      m_work.wait(lock, [&] { return m_stop || m_generation != seen; });
      if (m_stop) return;
      seen = m_generation;
      key = m_key + "/" + std::to_string(k);
      data = m_data;
      first = m_records * static_cast<std::size_t>(k) / n;
      last = m_records * static_cast<std::size_t>(k + 1) / n;
      record_bytes = m_record_bytes;
    }
    std::exception_ptr error;
    try {
      m_stores[static_cast<std::size_t>(k)]->put(key, data + first * record_bytes, (last - first) * record_bytes);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      if (error && !m_error) m_error = error;
      ++m_finished;
    }
    m_done.notify_one();
  }
}

}  // namespace motifbench
