// Helpers for client tests that need an address with no MeldDB behind it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace meld::client::testing {

// A TCP socket bound to 127.0.0.1 on a port the kernel chose. With listen, the kernel completes
// connections to it but nothing ever answers; without, connections to the port are refused.
// Closes the socket on destruction.
class LocalSocket {
 public:
  explicit LocalSocket(bool listen_for_connections) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0 ||
        (listen_for_connections &&
         (::listen(fd_, 16) != 0 || ::fcntl(fd_, F_SETFL, O_NONBLOCK) != 0))) {
      port_ = 0;
    } else {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~LocalSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  LocalSocket(const LocalSocket&) = delete;
  LocalSocket& operator=(const LocalSocket&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Accepts (and closes) the connections waiting to be accepted; returns how many there were.
  int accept_pending() {
    int accepted = 0;
    while (true) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) return accepted;
      ::close(fd);
      ++accepted;
    }
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// "127.0.0.1:PORT" for a port that was just bound and closed again, so nothing listens on it.
inline std::string refused_address() {
  LocalSocket socket(false);
  return socket.address();
}

}  // namespace meld::client::testing
