// Inference that runs while the caller does something else (request now, wait
// later): the survey's AI running alongside the simulation.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "motifbench/surrogate.hpp"

namespace motifbench {

/// Runs one SurrogateClient::infer() at a time on a worker thread of its own:
/// in tight mode the model computes there while the caller's thread runs its
/// kernels; in remote modes the worker holds the requests in flight. The
/// client must not be used by anyone else between start() and wait().
///
/// Thread safety: start() and wait() are called from one thread, in turns.
class AsyncInference {
 public:
  explicit AsyncInference(SurrogateClient& client);
  /// Waits for an inference in flight (its error, if any, is dropped).
  ~AsyncInference();
  AsyncInference(const AsyncInference&) = delete;
  AsyncInference& operator=(const AsyncInference&) = delete;

  /// Starts infer(in, batch, out), or infer_device() when `device` (pointers
  /// into the client's memory_space()); returns at once. `in` and `out` must
  /// stay valid until wait() returns. One inference at a time: throws
  /// std::logic_error when one is in flight.
  void start(const float* in, std::int64_t batch, float* out, bool device = false);
  /// Blocks until the inference started last is done; rethrows its exception.
  /// Returns its duration on the worker, in nanoseconds.
  double wait();
  /// Totals since construction, in seconds: the worker's inference time, and
  /// the time wait() blocked. busy_s() - waited_s() was hidden behind the
  /// caller's own work.
  double busy_s() const { return m_busy_ns * 1e-9; }
  double waited_s() const { return m_waited_ns * 1e-9; }

 private:
  void loop();

  SurrogateClient& m_client;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  const float* m_in = nullptr;
  float* m_out = nullptr;
  std::int64_t m_batch = 0;
  bool m_pending = false, m_done = true, m_stop = false, m_device = false;
  std::exception_ptr m_error;
  double m_last_ns = 0, m_busy_ns = 0, m_waited_ns = 0;
  std::thread m_worker;  // last: starts once everything above exists
};

}  // namespace motifbench
