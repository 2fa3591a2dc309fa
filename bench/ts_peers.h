// What meld-bench ts-compare needs to run the stores it compares MeldDB with, besides the peer
// processes of bench/peer_process.h: an HTTP client (libcurl) and disk usage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "bench/peer_process.h"

typedef void CURL;

namespace meld::bench {

// Sum of the sizes of the regular files under path (like `du -b --apparent-size` without the
// directories' own sizes); 0 for a missing path.
uint64_t file_bytes_under(const std::string& path);

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
