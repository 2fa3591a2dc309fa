#include "net/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace meld::net {

Result<Address> parse_address(std::string_view host_port) {
  auto bad = [&](std::string_view why) {
    return Status::invalid_argument("address '" + std::string(host_port) +
                                    "': " + std::string(why) + " (expected HOST:PORT)");
  };
  size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == host_port.size()) return bad("no port");
  std::string_view host = host_port.substr(0, colon);
  std::string_view port_text = host_port.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return bad("port is not a number in 0..65535");
  }
  if (host == "localhost") host = "127.0.0.1";
  Address a;
  std::string host_str(host);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string inner(host.substr(1, host.size() - 2));
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET6, inner.c_str(), &in6->sin6_addr) != 1) return bad("bad IPv6 host");
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    return a;
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, host_str.c_str(), &in4->sin_addr) != 1) {
    return bad("host is not an IPv4 literal, [IPv6] literal or localhost");
  }
  in4->sin_family = AF_INET;
  in4->sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

std::string format_address(const sockaddr* addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
  inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(in4->sin_port));
}

}  // namespace meld::net
