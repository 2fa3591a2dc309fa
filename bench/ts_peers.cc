#include "bench/ts_peers.h"

#include <curl/curl.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace meld::bench {
namespace {

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

uint64_t file_bytes_under(const std::string& path) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
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
