// Peer servers that benchmarks run next to MeldDB (redis-server, victoria-metrics, prometheus):
// their Debian packages installed on demand, a free loopback port, and the process itself.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace meld::bench {

// Installs the Debian packages among `packages` that dpkg does not list as installed (apt-get,
// through sudo when not root). Errors: unavailable when installing is impossible or fails.
Status ensure_debian_packages(const std::vector<std::string>& packages);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
Result<int> free_loopback_port();

// The CPU time (user + system, all threads) process pid has used so far, from /proc/PID/stat.
// Errors: not_found when the process is gone, corruption when the file does not parse.
Result<double> process_cpu_seconds(pid_t pid);
// The same per thread name, summed over the live threads of that name (/proc/PID/task).
Result<std::map<std::string, double>> thread_cpu_seconds(pid_t pid);

// A peer server started by the benchmark. Its stdout and stderr go to log_path. The destructor
// SIGKILLs and reaps a process still running, and the kernel SIGKILLs it when the benchmark
// process dies (PR_SET_PDEATHSIG), so a failing benchmark leaves nothing behind.
// Use from one thread.
class PeerProcess {
 public:
  PeerProcess(std::string name, std::vector<std::string> argv, std::string log_path);
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  // Errors: io_error when the log file cannot be created or fork fails. A program that cannot
  // be executed exits with status 127 (see exited()).
  Status start();
  // Graceful stop with stop_signal, then SIGKILL after timeout_ms. Returns the exit status
  // (128+signal when killed by one), or -1 when not running.
  int stop(int stop_signal, int timeout_ms);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Reaps the process if it has exited on its own; true when it is not running.
  bool exited();
  // The end of the log, for error messages.
  std::string log_tail(size_t bytes) const;
  std::string log() const;
  const std::string& name() const { return name_; }

 private:
  int reap(int timeout_ms);

  std::string name_;
  std::vector<std::string> argv_;
  std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace meld::bench
