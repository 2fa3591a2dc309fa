#include "bench/crdt_redis_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <thread>

namespace meld::bench {
namespace {

constexpr int kStartTimeoutMs = 10000;
constexpr int kStopTimeoutMs = 5000;
constexpr size_t kMaxReplyBytes = 1 << 20;

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

std::string encode_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<RedisPeer>> RedisPeer::start(const std::vector<std::string>& config_args) {
  MELD_RETURN_IF_ERROR(ensure_debian_packages({"redis-server"}));
  std::unique_ptr<RedisPeer> peer(new RedisPeer());
  MELD_RETURN_IF_ERROR(peer->launch(config_args));
  Result<Reply> info = peer->command({"INFO", "server"});
  MELD_RETURN_IF_ERROR(info.status());
  size_t at = info->text.find("redis_version:");
  if (at != std::string::npos) {
    peer->version_ = info->text.substr(at, info->text.find('\r', at) - at);
  }
  return peer;
}

Status RedisPeer::launch(const std::vector<std::string>& config_args) {
  Result<int> port = free_loopback_port();
  MELD_RETURN_IF_ERROR(port.status());
  // No --logfile: redis logs to stdout, which PeerProcess sends to redis.log.
  std::vector<std::string> args = {
      "redis-server", "--bind",    "127.0.0.1",   "--port", std::to_string(*port),
      "--dir",        dir_.path(), "--daemonize", "no"};
  args.insert(args.end(), config_args.begin(), config_args.end());
  process_ =
      std::make_unique<PeerProcess>("redis-server", std::move(args), dir_.path() + "/redis.log");
  MELD_RETURN_IF_ERROR(process_->start());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while ((fd_ = connect_to(*port)) < 0) {
    if (process_->exited()) {
      return Status::unavailable("redis-server exited at start; log:\n" + process_->log_tail(2000));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::deadline_exceeded(
          "redis-server did not listen on 127.0.0.1:" + std::to_string(*port) + " in time; log:\n" +
          process_->log_tail(2000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::ok();
}

RedisPeer::~RedisPeer() {
  if (fd_ >= 0) close(fd_);
  if (process_) process_->stop(SIGTERM, kStopTimeoutMs);
}

Status RedisPeer::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return Status::io_error("write to redis-server failed");
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status RedisPeer::read_line(std::string* out) {
  while (true) {
    size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      *out = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return Status::ok();
    }
    if (buffer_.size() > kMaxReplyBytes) return Status::corruption("redis reply line too long");
    char chunk[65536];
    ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n <= 0) return Status::io_error("read from redis-server failed");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

namespace {

// The decimal integer of a reply line, or corruption.
Status parse_integer(const std::string& text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::corruption("redis reply is not an integer: " + text);
  }
  return Status::ok();
}

}  // namespace

Status RedisPeer::read_reply(Reply* out) {
  std::string line;
  MELD_RETURN_IF_ERROR(read_line(&line));
  if (line.empty()) return Status::corruption("empty redis reply");
  out->type = line[0];
  std::string rest = line.substr(1);
  switch (out->type) {
    case '+':
      out->text = rest;
      return Status::ok();
    case ':':
      return parse_integer(rest, &out->integer);
    case '-':
      return Status::internal("redis error: " + rest);
    case '$': {
      int64_t size = 0;
      MELD_RETURN_IF_ERROR(parse_integer(rest, &size));
      if (size < 0) {
        out->text.clear();
        return Status::ok();
      }
      if (static_cast<size_t>(size) > kMaxReplyBytes) {
        return Status::corruption("redis bulk reply too long");
      }
      while (buffer_.size() < static_cast<size_t>(size) + 2) {
        char chunk[65536];
        ssize_t n = read(fd_, chunk, sizeof(chunk));
        if (n <= 0) return Status::io_error("read from redis-server failed");
        buffer_.append(chunk, static_cast<size_t>(n));
      }
      out->text = buffer_.substr(0, static_cast<size_t>(size));
      buffer_.erase(0, static_cast<size_t>(size) + 2);
      return Status::ok();
    }
    default:
      return Status::corruption("unsupported redis reply type " + std::string(1, out->type));
  }
}

Result<RedisPeer::Reply> RedisPeer::command(const std::vector<std::string>& args) {
  MELD_RETURN_IF_ERROR(write_all(encode_command(args)));
  Reply reply;
  MELD_RETURN_IF_ERROR(read_reply(&reply));
  return reply;
}

Result<int64_t> RedisPeer::used_memory_bytes() {
  Result<Reply> info = command({"INFO", "memory"});
  MELD_RETURN_IF_ERROR(info.status());
  const std::string field = "used_memory:";
  size_t at = info->text.find(field);
  if (at == std::string::npos) return Status::corruption("INFO memory without used_memory");
  at += field.size();
  int64_t bytes = 0;
  MELD_RETURN_IF_ERROR(
      parse_integer(info->text.substr(at, info->text.find('\r', at) - at), &bytes));
  return bytes;
}

Status RedisPeer::pipeline(const std::vector<std::vector<std::string>>& commands) {
  std::string bytes;
  for (const auto& c : commands) bytes += encode_command(c);
  MELD_RETURN_IF_ERROR(write_all(bytes));
  Status first = Status::ok();
  for (size_t i = 0; i < commands.size(); ++i) {
    Reply reply;
    Status s = read_reply(&reply);
    if (!s.is_ok() && first.is_ok()) first = s;
    if (s.code() == StatusCode::kIoError || s.code() == StatusCode::kCorruption) return first;
  }
  return first;
}

}  // namespace meld::bench
