// What meld-bench ts-compare needs to run the stores it compares MeldDB with: Debian packages
// installed on demand, peer processes on loopback, an HTTP client (libcurl) and disk usage.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

typedef void CURL;

namespace meld::bench {

// Installs the Debian packages among `packages` that dpkg does not list as installed (apt-get,
// through sudo when not root). Errors: unavailable when installing is impossible or fails.
Status ensure_debian_packages(const std::vector<std::string>& packages);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
Result<int> free_loopback_port();

// Sum of the sizes of the regular files under path (like `du -b --apparent-size` without the
// directories' own sizes); 0 for a missing path.
uint64_t file_bytes_under(const std::string& path);

// A peer server started by the benchmark. Its stdout and stderr go to log_path. The destructor
// SIGKILLs and reaps a process still running, and the kernel SIGKILLs it when the benchmark
// process dies (PR_SET_PDEATHSIG), so a failing benchmark leaves nothing behind.
class PeerProcess {
 public:
  PeerProcess(std::string name, std::vector<std::string> argv, std::string log_path);
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  Status start();
  // Graceful stop with stop_signal, then SIGKILL after timeout_ms. Returns the exit status
  // (128+signal when killed by one), or -1 when not running.
  int stop(int stop_signal, int timeout_ms);
  bool running() const { return pid_ > 0; }
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

struct HttpResponse {
  long code = 0;
  std::string body;
};

// One keep-alive HTTP connection (a libcurl easy handle). Use from one thread at a time.
class HttpClient {
 public:
  // body_bytes_max bounds every response body (resource_exhausted past it).
  explicit HttpClient(size_t body_bytes_max = size_t{1} << 30);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Errors: unavailable when the request could not be made or no answer came within
  // timeout_ms. Any HTTP status is a successful call; the caller checks code.
  Result<HttpResponse> get(const std::string& url, int timeout_ms = 120000);
  Result<HttpResponse> post(const std::string& url, std::string_view body,
                            const std::vector<std::string>& headers, int timeout_ms = 120000);
  // application/x-www-form-urlencoded POST of name=value pairs (values are escaped).
  Result<HttpResponse> post_form(const std::string& url,
                                 const std::vector<std::pair<std::string, std::string>>& form,
                                 int timeout_ms = 120000);

 private:
  Result<HttpResponse> perform(const std::string& url, int timeout_ms);

  CURL* curl_;
  size_t body_bytes_max_;
  std::string body_;
};

// Polls url until it answers 200 or timeout_ms passes; fails (naming the process log's tail) on
// timeout or when the process exits first.
Status wait_http_ready(HttpClient& http, const std::string& url, PeerProcess& process,
                       int timeout_ms);

}  // namespace meld::bench
