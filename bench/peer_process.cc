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
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

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

namespace {

// The name and CPU seconds (user + system) in one /proc/.../stat file.
Result<std::pair<std::string, double>> read_stat(const std::string& path) {
  std::ifstream in(path);
  std::string stat;
  if (!in || !std::getline(in, stat)) return Status::not_found("cannot read " + path);
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
  // from the last ')'. utime and stime are fields 14 and 15, in clock ticks.
  const size_t open = stat.find('(');
  const size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return Status::corruption(path + ": no (comm)");
  }
  std::istringstream in_fields(stat.substr(close + 1));
  std::vector<std::string> fields(std::istream_iterator<std::string>(in_fields), {});
  double ticks = 0;
  for (size_t n : {14, 15}) {  // fields[0] is field 3
    if (fields.size() < n - 2) return Status::corruption(path + ": too few fields");
    const std::string& field = fields[n - 3];
    char* end = nullptr;
    ticks += std::strtod(field.c_str(), &end);
    if (end == field.c_str() || *end != '\0') {
      return Status::corruption(path + ": bad field " + field);
    }
  }
  return std::pair(stat.substr(open + 1, close - open - 1),
                   ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

}  // namespace

Result<double> process_cpu_seconds(pid_t pid) {
  auto stat = read_stat("/proc/" + std::to_string(pid) + "/stat");
  MELD_RETURN_IF_ERROR(stat.status());
  return stat->second;
}

Result<std::map<std::string, double>> thread_cpu_seconds(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code error;
  std::map<std::string, double> by_name;
  // Advanced with an error code, never an exception: threads come and go while it lists them.
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    auto stat = read_stat(it->path().string() + "/stat");
    if (stat.status().code() == StatusCode::kNotFound) continue;  // the thread just ended
    MELD_RETURN_IF_ERROR(stat.status());
    by_name[stat->first] += stat->second;
  }
  if (error) return Status::not_found("cannot list " + dir + ": " + error.message());
  return by_name;
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
