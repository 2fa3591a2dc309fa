#include "jepsen/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace meld::jepsen {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string last_bytes(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

namespace {

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// Reads everything from fd until EOF into out.
void drain(int fd, std::string* out) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return;
    }
  }
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base ? base : "/tmp") + "/meld-test-XXXXXX";
  char* made = mkdtemp(templ.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

MelddProcess::MelddProcess(std::string meldd_path, std::string data_dir,
                           std::vector<std::string> extra_args)
    : meldd_path_(std::move(meldd_path)),
      data_dir_(std::move(data_dir)),
      extra_args_(std::move(extra_args)),
      log_path_(data_dir_ + ".log") {}

MelddProcess::~MelddProcess() {
  if (running()) kill9();
}

std::string MelddProcess::log() const {
  return read_file(log_path_);
}

Status MelddProcess::start(int timeout_ms) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status::io_error("pipe failed");
  std::vector<std::string> args = {meldd_path_, "--data-dir", data_dir_, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
    auto argv = argv_of(args);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    return Status::io_error("fork failed");
  }
  pid_ = pid;
  stdout_fd_ = out[0];
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (seen.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{stdout_fd_, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
      kill9();
      return Status::deadline_exceeded("meldd not ready in time; log:\n" + last_bytes(log(), 2000));
    }
    char buf[512];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) {
      int code = wait_exit(5000);
      return Status::unavailable("meldd exited (" + std::to_string(code) +
                                 ") before ready; log:\n" + last_bytes(log(), 2000));
    }
    seen.append(buf, static_cast<size_t>(n));
  }
  auto at = seen.find("rpc=");
  if (seen.rfind("meldd ready:", 0) != 0 || at == std::string::npos) {
    kill9();
    return Status::internal("unexpected first line from meldd: " + seen);
  }
  auto end = seen.find(' ', at);
  address_ = seen.substr(at + 4, end - at - 4);
  return Status::ok();
}

std::optional<int> wait_for_exit(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &wstatus, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int MelddProcess::wait_exit(int timeout_ms) {
  const int code = wait_for_exit(pid_, timeout_ms).value_or(-1);
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  return code;
}

int MelddProcess::stop(int timeout_ms) {
  if (!running()) return -1;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT);
  return wait_exit(timeout_ms);
}

void MelddProcess::pause() {
  if (running()) ::kill(pid_, SIGSTOP);
}

void MelddProcess::resume() {
  if (running()) ::kill(pid_, SIGCONT);
}

void MelddProcess::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  wait_exit(10000);
}

int run_program(std::vector<std::string> argv, std::string* out, std::string* err,
                const std::string& stdin_text) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
    return -1;
  }
  // Built before fork: the child of a threaded process may not allocate.
  auto args = argv_of(argv);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // stdin is written whole before reading: tests pass small inputs (well under a pipe buffer).
  if (!stdin_text.empty()) {
    ssize_t n = write(in_pipe[1], stdin_text.data(), stdin_text.size());
    (void)n;
  }
  close(in_pipe[1]);
  std::string err_text;
  std::thread err_reader([&] { drain(err_pipe[0], &err_text); });
  out->clear();
  drain(out_pipe[0], out);
  err_reader.join();
  close(out_pipe[0]);
  close(err_pipe[0]);
  if (err != nullptr) *err = err_text;
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

int run_meldctl(const std::string& meldctl_path, const std::string& address,
                const std::vector<std::string>& args, std::string* out, std::string* err,
                const std::string& stdin_text) {
  std::vector<std::string> argv = {meldctl_path, "--addr", address};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(std::move(argv), out, err, stdin_text);
}

}  // namespace meld::jepsen
