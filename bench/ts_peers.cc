#include "bench/ts_peers.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace meld::bench {
namespace {

bool package_installed(const std::string& package) {
  const std::string command =
      "dpkg-query -W -f='${Status}' " + package + " 2>/dev/null | grep -q 'ok installed'";
  return std::system(command.c_str()) == 0;
}

// curl_global_init is not thread-safe: done once, before any thread makes a handle.
void init_curl_once() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  MELD_ASSERT(done, "curl_global_init failed");
}

struct BodySink {
  std::string* body;
  size_t bytes_max;
  bool overflow = false;
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t n = size * count;
  if (sink->body->size() + n > sink->bytes_max) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, n);
  return n;
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

uint64_t file_bytes_under(const std::string& path) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
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
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int wstatus = 0;
  for (;;) {
    const pid_t r = waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &wstatus, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
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
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string PeerProcess::log_tail(size_t bytes) const {
  const std::string all = log();
  return all.size() <= bytes ? all : all.substr(all.size() - bytes);
}

HttpClient::HttpClient(size_t body_bytes_max) : body_bytes_max_(body_bytes_max) {
  init_curl_once();
  curl_ = curl_easy_init();
  MELD_ASSERT(curl_ != nullptr, "curl_easy_init failed");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(curl_);
}

Result<HttpResponse> HttpClient::perform(const std::string& url, int timeout_ms) {
  body_.clear();
  BodySink sink{&body_, body_bytes_max_};
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  const CURLcode rc = curl_easy_perform(curl_);
  if (sink.overflow) {
    return Status::resource_exhausted(url + ": answer larger than " +
                                      std::to_string(body_bytes_max_) + " bytes");
  }
  if (rc != CURLE_OK) return Status::unavailable(url + ": " + curl_easy_strerror(rc));
  HttpResponse response;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &response.code);
  response.body = std::move(body_);
  return response;
}

Result<HttpResponse> HttpClient::get(const std::string& url, int timeout_ms) {
  curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
  return perform(url, timeout_ms);
}

Result<HttpResponse> HttpClient::post(const std::string& url, std::string_view body,
                                      const std::vector<std::string>& headers, int timeout_ms) {
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
  auto result = perform(url, timeout_ms);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  return result;
}

Result<HttpResponse> HttpClient::post_form(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
    int timeout_ms) {
  std::string body;
  for (const auto& [name, value] : form) {
    char* escaped = curl_easy_escape(curl_, value.data(), static_cast<int>(value.size()));
    if (escaped == nullptr) return Status::internal("curl_easy_escape failed");
    if (!body.empty()) body += '&';
    body += name + "=" + escaped;
    curl_free(escaped);
  }
  return post(url, body, {"Content-Type: application/x-www-form-urlencoded"}, timeout_ms);
}

Status wait_http_ready(HttpClient& http, const std::string& url, PeerProcess& process,
                       int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (process.exited()) {
      return Status::unavailable(process.name() + " exited at start; log:\n" +
                                 process.log_tail(2000));
    }
    auto r = http.get(url, 1000);
    if (r.is_ok() && r->code == 200) return Status::ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::deadline_exceeded(process.name() + " not ready at " + url + "; log:\n" +
                                   process.log_tail(2000));
}

}  // namespace meld::bench
