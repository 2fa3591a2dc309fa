// A local redis-server as a benchmark peer: installed with apt-get when missing, started on
// 127.0.0.1 on a free port in a temp dir (a bench::PeerProcess: it dies with the benchmark),
// spoken to over one blocking RESP connection, and stopped (SIGTERM, then SIGKILL) and its
// directory removed by the destructor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "bench/peer_process.h"
#include "jepsen/process.h"

namespace meld::bench {

class RedisPeer {
 public:
  // One reply: an integer (':'), or a status or bulk string ('+', '$'); errors ('-') and other
  // types are returned as Status by command() and pipeline().
  struct Reply {
    char type = 0;
    int64_t integer = 0;
    std::string text;
  };

  // Installs the Debian package redis-server when it is missing (apt-get, with sudo when not
  // root), then starts it with config_args appended to its command line (bind, port and dir are
  // set here; its log is redis.log in dir()). unavailable when it cannot be installed or
  // started, deadline_exceeded when it does not listen in time.
  static Result<std::unique_ptr<RedisPeer>> start(const std::vector<std::string>& config_args);
  ~RedisPeer();
  RedisPeer(const RedisPeer&) = delete;
  RedisPeer& operator=(const RedisPeer&) = delete;

  // Sends one command and waits for its reply (one round trip).
  Result<Reply> command(const std::vector<std::string>& args);
  // Sends all commands, then reads all replies; the first error reply fails the call.
  Status pipeline(const std::vector<std::vector<std::string>>& commands);
  // INFO memory's used_memory.
  Result<int64_t> used_memory_bytes();
  // The server's version line ("redis_version:7.0.15").
  const std::string& version() const { return version_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  RedisPeer() = default;
  Status launch(const std::vector<std::string>& config_args);
  Status read_reply(Reply* out);
  Status read_line(std::string* out);
  Status write_all(const std::string& bytes);

  jepsen::TempDir dir_;  // outlives process_
  std::unique_ptr<PeerProcess> process_;
  int fd_ = -1;
  std::string buffer_;  // received, not yet parsed
  std::string version_;
};

}  // namespace meld::bench
