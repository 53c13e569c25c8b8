#include "motifbench/async_inference.hpp"

#include <stdexcept>

#include "motifbench/run_context.hpp"  // now_ns

namespace motifbench {

AsyncInference::AsyncInference(SurrogateClient& client) : m_client(client), m_worker([this] { loop(); }) {}

AsyncInference::~AsyncInference() {
  {
    std::unique_lock<std::mutex> l(m_mutex);
    m_cv.wait(l, [&] { return m_done; });
    m_stop = true;
  }
  m_cv.notify_all();
  m_worker.join();
}

void AsyncInference::start(const float* in, std::int64_t batch, float* out, bool device) {
  {
    std::lock_guard<std::mutex> l(m_mutex);
    if (!m_done) throw std::logic_error("AsyncInference::start: an inference is in flight; wait() for it first");
    m_device = device;
    m_in = in;
    m_batch = batch;
    m_out = out;
    m_error = nullptr;
    m_done = false;
    m_pending = true;
  }
  m_cv.notify_all();
}

double AsyncInference::wait() {
  const std::int64_t t0 = now_ns();
  std::unique_lock<std::mutex> l(m_mutex);
  m_cv.wait(l, [&] { return m_done; });
  m_waited_ns += static_cast<double>(now_ns() - t0);
  if (m_error) std::rethrow_exception(std::exchange(m_error, nullptr));
  return m_last_ns;
}

void AsyncInference::loop() {
  std::unique_lock<std::mutex> l(m_mutex);
  for (;;) {
    m_cv.wait(l, [&] { return m_pending || m_stop; });
    if (m_stop) return;
    m_pending = false;
    const float* in = m_in;
    float* out = m_out;
    const std::int64_t batch = m_batch;
    const bool device = m_device;
    l.unlock();
    const std::int64_t t0 = now_ns();
    std::exception_ptr error;
    try {
      if (device)
        m_client.infer_device(in, batch, out);
      else
        m_client.infer(in, batch, out);
    } catch (...) {
      error = std::current_exception();
    }
    const double took = static_cast<double>(now_ns() - t0);
    l.lock();
    m_last_ns = took;
    m_busy_ns += took;
    m_error = error;
    m_done = true;
    m_cv.notify_all();
  }
}

}  // namespace motifbench
