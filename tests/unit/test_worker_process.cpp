// WorkerProcess's orderly end against real processes: a worker that exits by
// itself ends quietly; one that was killed, or that does not end, is a failed
// component. The "programs" are coreutils: WorkerProcess passes the parent's
// pid as the one argument, so `true PID` exits 0 and `sleep PID` sleeps.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "motifbench/worker_process.hpp"

namespace motifbench {
namespace {

std::string end_message(WorkerProcess& w) {
  try {
    w.end();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(WorkerProcess, EndIsQuietForAWorkerThatExitsByItself) {
  WorkerProcess w("/bin/true", "probe", 5.0);
  EXPECT_EQ(end_message(w), "");
  EXPECT_EQ(w.pid(), -1);
  EXPECT_EQ(end_message(w), "");  // idempotent
}

TEST(WorkerProcess, EndNamesAWorkerThatWasKilled) {
  WorkerProcess w("/bin/sleep", "member 3", 5.0);
  const pid_t pid = w.pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  const std::string why = end_message(w);
  EXPECT_NE(why.find("worker member 3 (pid " + std::to_string(pid) + ")"), std::string::npos) << why;
  EXPECT_NE(why.find("killed by signal 9"), std::string::npos) << why;
  EXPECT_EQ(w.pid(), -1);  // reaped all the same
}

TEST(WorkerProcess, EndFailsAWorkerThatDoesNotEnd) {
  // `sleep PID` ignores its socket's end-of-file: killed after the timeout.
  WorkerProcess w("/bin/sleep", "member 0", 0.2);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string why = end_message(w);
  EXPECT_NE(why.find("stopped answering and was killed"), std::string::npos) << why;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));  // bounded, not a speed target
}

TEST(WorkerProcess, StopStaysQuietForAKilledWorker) {
  // The destructor's path (stop) never throws: it runs while unwinding.
  WorkerProcess w("/bin/sleep", "member 1", 5.0);
  ASSERT_EQ(kill(w.pid(), SIGKILL), 0);
  EXPECT_NO_THROW(w.stop());
  EXPECT_EQ(w.pid(), -1);
}

}  // namespace
}  // namespace motifbench
