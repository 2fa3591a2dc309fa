// Cluster control for tests, benchmarks and the fault harness: starts and stops real meldd
// processes on 127.0.0.1. Every process a MelddProcess starts is stopped (SIGKILL if need be) and
// reaped by its destructor, so nothing is left running behind a test.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace meld::jepsen {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class MelddProcess {
 public:
  // meldd_path is the binary; data_dir is passed as --data-dir; extra_args follow. The node
  // listens on 127.0.0.1:0.
  MelddProcess(std::string meldd_path, std::string data_dir,
               std::vector<std::string> extra_args = {});
  ~MelddProcess();
  MelddProcess(const MelddProcess&) = delete;
  MelddProcess& operator=(const MelddProcess&) = delete;

  // Starts meldd and waits for its "meldd ready:" line. On failure (exit, timeout) returns an
  // error carrying the tail of the node's log.
  Status start(int timeout_ms = 15000);
  // SIGTERM, then waits; returns the exit code (-1 on timeout, after which it is SIGKILLed).
  int stop(int timeout_ms = 15000);
  // SIGKILL and reap: the crash a node must survive without losing acknowledged writes.
  void kill9();
  // SIGSTOP / SIGCONT: the node freezes (its connections stay open, requests wait in its sockets
  // and run once it thaws) and thaws. stop() also thaws a frozen node.
  void pause();
  void resume();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& address() const { return address_; }
  // stderr of every run so far (the structured log).
  std::string log() const;

 private:
  int wait_exit(int timeout_ms);

  std::string meldd_path_;
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string log_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
};

// The whole file at path ("" when it cannot be read): a process's log.
std::string read_file(const std::string& path);

// The last n bytes of s (all of s when shorter): the end of a log, for an error message.
std::string last_bytes(const std::string& s, size_t n);

// Waits up to timeout_ms for the child pid to exit and reaps it. Returns its exit status (128 +
// the signal when a signal ended it), or nullopt when it still ran at the deadline, after which it
// was SIGKILLed and reaped.
std::optional<int> wait_for_exit(pid_t pid, int timeout_ms);

// Runs argv (argv[0] a path) to its end with stdin_text as its standard input; returns its exit
// code (128 + the signal when a signal ended it; 127 when it could not be executed, -1 when the
// pipes could not be made) and fills out/err (err may be null).
int run_program(std::vector<std::string> argv, std::string* out, std::string* err,
                const std::string& stdin_text = "");

// run_program of the meldctl at meldctl_path with args against address.
int run_meldctl(const std::string& meldctl_path, const std::string& address,
                const std::vector<std::string>& args, std::string* out, std::string* err,
                const std::string& stdin_text = "");

}  // namespace meld::jepsen
