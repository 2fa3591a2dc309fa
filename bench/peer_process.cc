#include "bench/peer_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "jepsen/process.h"

namespace meld::bench {
namespace {

bool package_installed(const std::string& package) {
  const std::string command =
      "dpkg-query -W -f='${Status}' " + package + " 2>/dev/null | grep -q 'ok installed'";
  return std::system(command.c_str()) == 0;
}

}  // namespace

Status ensure_debian_packages(const std::vector<std::string>& packages) {
  std::string missing;
  for (const std::string& p : packages) {
    if (!package_installed(p)) missing += " " + p;
  }
  if (missing.empty()) return Status::ok();
  std::string sudo;
  if (geteuid() != 0) {
    if (std::system("command -v sudo >/dev/null") != 0) {
      return Status::unavailable("need root or sudo to install:" + missing);
    }
    sudo = "sudo ";
  }
  std::fprintf(stderr, "# installing Debian packages:%s\n", missing.c_str());
  const std::string env = sudo + "env DEBIAN_FRONTEND=noninteractive ";
  const std::string command = env + "apt-get update -q >&2 && " + env +
                              "apt-get install -y -q --no-install-recommends" + missing + " >&2";
  if (std::system(command.c_str()) != 0) {
    return Status::unavailable("apt-get install failed for" + missing);
  }
  return Status::ok();
}

Result<int> free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::io_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return Status::io_error("cannot bind a loopback port");
  return static_cast<int>(ntohs(addr.sin_port));
}

PeerProcess::PeerProcess(std::string name, std::vector<std::string> argv, std::string log_path)
    : name_(std::move(name)), argv_(std::move(argv)), log_path_(std::move(log_path)) {}

PeerProcess::~PeerProcess() {
  if (running()) stop(SIGKILL, 10000);
}

Status PeerProcess::start() {
  std::vector<char*> argv;
  for (std::string& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::io_error("cannot create " + log_path_);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the peer dies with the benchmark, even on SIGKILL
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  if (pid < 0) return Status::io_error("fork failed for " + name_);
  pid_ = pid;
  return Status::ok();
}

int PeerProcess::reap(int timeout_ms) {
  const int code = jepsen::wait_for_exit(pid_, timeout_ms).value_or(128 + SIGKILL);
  pid_ = -1;
  return code;
}

bool PeerProcess::exited() {
  if (!running()) return true;
  int wstatus = 0;
  if (waitpid(pid_, &wstatus, WNOHANG) != pid_) return false;
  pid_ = -1;
  return true;
}

int PeerProcess::stop(int stop_signal, int timeout_ms) {
  if (!running()) return -1;
  ::kill(pid_, stop_signal);
  return reap(timeout_ms);
}

std::string PeerProcess::log() const {
  return jepsen::read_file(log_path_);
}

std::string PeerProcess::log_tail(size_t bytes) const {
  return jepsen::last_bytes(log(), bytes);
}

}  // namespace meld::bench
