// The worker side of WorkerProcess: blocking reads and writes on the socket
// to the parent. No dependency but the C library, so a mini-app's worker
// program links only this and Kokkos.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "motifbench/worker_process.hpp"

namespace motifbench {
namespace {
bool io_all(bool reading, void* data, std::size_t bytes) {
  char* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = reading ? ::recv(kWorkerSocketFd, p + done, bytes - done, 0)
                              : ::send(kWorkerSocketFd, p + done, bytes - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && reading && done == 0) return false;
    if (n <= 0) throw std::runtime_error(std::string("worker socket: ") + (n == 0 ? "closed mid-message" : std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
  return true;
}
}  // namespace

std::string worker_start(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct stat st {};
  if (argc != 2 || std::to_string(getppid()) != argv[1] || fstat(kWorkerSocketFd, &st) != 0 || !S_ISSOCK(st.st_mode))
    return "this program is started by motifbench (a mini-app's worker), not by hand";
  return "";
}

bool worker_receive(void* data, std::size_t bytes) { return io_all(true, data, bytes); }
void worker_send(const void* data, std::size_t bytes) { io_all(false, const_cast<void*>(data), bytes); }

}  // namespace motifbench
