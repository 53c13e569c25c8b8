// How a thread waits for the next message of a stream that repeats: a
// semi-tight client for its answer, a server for its client's next request.
//  - A wait that recently ended within twice the polling window: poll from
//    the start, for up to the window (back-to-back calls at small batches).
//  - A longer one (a large batch's compute, a client's simulation between
//    calls), when the last waits were regular (their median within
//    kMaxSpreadWindows windows of their earliest): sleep on a timer until a
//    window before the earliest moment the message came at in the last
//    waits, then poll until a window after their third quartile, or after
//    kMaxSpreadWindows windows past the earliest if that comes first
//    (hybrid polling, as Linux's block layer does for fast devices). A
//    thread woken by the message itself costs a wake-up, which a virtual
//    machine may take 50-100 us to deliver; one that is already polling
//    costs none, and the polling lasts at most kMaxSpreadWindows + 2
//    windows, however long the waits are. A message that comes later wakes
//    the thread as before.
//  - No window (poll_ns 0), irregular waits, waits longer than kMaxAheadNs,
//    or no record of when the messages came: sleep until the message wakes
//    the thread.
// When a message came must be known from the other side (its send time on
// the same host's clock), not from when the thread found it: a thread that
// sleeps past the message finds it late, and would learn its own lateness.
// The timer's lateness is measured at every sleep and the median of the last
// few is taken off the wake-up time.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

#include <sys/prctl.h>

namespace motifbench::detail {

/// A streamed request's parameter from a client on the server's host: when
/// it was sent (CLOCK_MONOTONIC, ns), so the server learns when requests come.
constexpr char kClientSentNs[] = "client_sent_ns";

class PollPlan {
 public:
  /// Waits longer than this are slept through: a wake-up is a small part of
  /// them, and the thread may have other work (a server's other streams).
  static constexpr std::int64_t kMaxAheadNs = 50'000'000;
  static constexpr std::size_t kHistory = 8;
  /// Waits whose median lies further than this many windows after their
  /// earliest are slept through; the polling ends at most this many windows
  /// (and one) after the earliest.
  static constexpr std::int64_t kMaxSpreadWindows = 4;

  /// poll_ns: the polling window (0: never poll); ahead: poll around the
  /// expected end of long waits (otherwise sleep through them, the default:
  /// the polling costs CPU time for latency).
  PollPlan(std::int64_t poll_ns, bool ahead) : m_poll_ns(std::max<std::int64_t>(0, poll_ns)), m_ahead(ahead) {}

  struct Wait {
    std::int64_t sleep_until_ns = 0;  ///< a timer sleep until then first (0: none)
    std::int64_t poll_until_ns = 0;   ///< then poll until then (0: no polling)
    /// A short wait: the window may start again at each message of a call
    /// with several (from now_ns() for poll_ns()).
    bool short_wait = false;
  };

  /// The wait that starts at `start_ns` (CLOCK_MONOTONIC).
  Wait plan(std::int64_t start_ns) const {
    Wait w;
    if (m_poll_ns == 0) return w;
    if (m_last_ns <= 2 * m_poll_ns) {  // nothing known yet (0) counts as short
      w.poll_until_ns = start_ns + m_poll_ns;
      w.short_wait = true;
      return w;
    }
    if (!m_ahead || m_came_count < kHistory / 2) return w;
    std::array<std::int64_t, kHistory> came = m_came;
    const auto n = static_cast<std::ptrdiff_t>(std::min(m_came_count, kHistory));
    std::sort(came.begin(), came.begin() + n);
    // From the earliest: a message that comes while the thread sleeps waits
    // for it (nothing wakes a timer sleep), so the sleep ends before any of
    // the last waits did. To the third quartile, or kMaxSpreadWindows
    // windows past the earliest, whichever comes first: one that comes later
    // wakes the thread as before, and the polling's cost stays bounded. Only
    // when most waits end within that reach (their median): otherwise the
    // polling would seldom find the message. The last wait must have been
    // regular too: after a pause (a training step between calls) the next
    // message tends to come early.
    const auto at = [&](std::ptrdiff_t k) { return came[static_cast<std::size_t>(k)]; };
    const std::int64_t earliest = at(0), median = at(n / 2), third = at(3 * n / 4);
    const std::int64_t reach = earliest + kMaxSpreadWindows * m_poll_ns;
    if (third > kMaxAheadNs || median > reach || m_last_came_ns < 0 || m_last_came_ns > third + m_poll_ns) return w;
    const std::int64_t wake = start_ns + earliest - m_poll_ns - late_ns();
    if (wake > start_ns) w.sleep_until_ns = wake;
    w.poll_until_ns = start_ns + std::min(third, reach) + m_poll_ns;
    return w;
  }

  /// A wait that started at start_ns and ended at end_ns, when the thread
  /// had the message; came_ns: when the other side sent it (0: not known).
  void record(std::int64_t start_ns, std::int64_t end_ns, std::int64_t came_ns) {
    m_last_ns = end_ns - start_ns;
    m_last_came_ns = -1;
    if (came_ns <= 0) return;
    m_last_came_ns = std::max<std::int64_t>(0, came_ns - start_ns);
    m_came[m_came_count % kHistory] = m_last_came_ns;
    ++m_came_count;
  }

  /// Forgets the waits (not the timer's lateness): a new stream, another
  /// client.
  void forget() {
    m_last_ns = 0;
    m_came_count = 0;
    m_last_came_ns = -1;
  }

  /// Sleeps until `until_ns` on CLOCK_MONOTONIC, with the thread's timer slack
  /// at 1 ns (Linux's default of 50 us would be lateness on top), and learns
  /// how late the timer was.
  void sleep_until(std::int64_t until_ns) {
    static thread_local const bool slack_set = prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) == 0;
    (void)slack_set;
    timespec ts{static_cast<time_t>(until_ns / 1'000'000'000), static_cast<long>(until_ns % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }  // a signal: the time is absolute, so sleep on to it
    record_lateness(now_ns() - until_ns);
  }

  /// A timer that fired `late` ns after its time.
  void record_lateness(std::int64_t late) {
    m_late[m_late_count % kHistory] = std::max<std::int64_t>(0, late);
    ++m_late_count;
  }

  /// The median lateness of the last few timer sleeps (the window before
  /// the message takes the spread).
  std::int64_t late_ns() const {
    const std::size_t n = std::min(m_late_count, kHistory);
    if (n == 0) return 0;
    std::array<std::int64_t, kHistory> late = m_late;
    std::nth_element(late.begin(), late.begin() + static_cast<std::ptrdiff_t>(n / 2),
                     late.begin() + static_cast<std::ptrdiff_t>(n));
    return late[n / 2];
  }

  std::int64_t poll_ns() const { return m_poll_ns; }

  /// steady_clock, as every send and receive stamp of the client and the
  /// servers (on Linux it is CLOCK_MONOTONIC, which sleep_until sleeps on).
  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  std::int64_t m_poll_ns;
  bool m_ahead;
  std::int64_t m_last_ns = 0;  // the last wait, to when the thread had the message (0: none yet)
  std::array<std::int64_t, kHistory> m_came{};  // the last waits to when the messages were sent
  std::size_t m_came_count = 0;
  std::int64_t m_last_came_ns = -1;  // the last wait's, -1: not known
  std::array<std::int64_t, kHistory> m_late{};
  std::size_t m_late_count = 0;
};

}  // namespace motifbench::detail
