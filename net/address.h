// Parsing "host:port" addresses for listening and dialing. Hosts are numeric IPv4 or IPv6
// literals ("[::1]:7400") or "localhost"; no DNS lookups happen on the loop thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "base/status.h"

namespace meld::net {

struct Address {
  sockaddr_storage storage{};
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// invalid_argument with a message naming the input when it is not host:port with a port in
// 0..65535.
Result<Address> parse_address(std::string_view host_port);

// "127.0.0.1:7400" / "[::1]:7400" for a bound or peer socket address.
std::string format_address(const sockaddr* addr);

}  // namespace meld::net
