// How the single-node slice lays its data out in RocksDB keys. Big-endian integers keep numeric
// order equal to byte order; length prefixes keep one name from being a prefix of another.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meld::server::keys {

// crdt family: 'c' name
std::string counter(std::string_view name);
// crdt family: 's' u32 len(set) set member. Members of one set share set_prefix(set).
std::string set_prefix(std::string_view set);
std::string set_member(std::string_view set, std::string_view member);
// The ts family's layout is storage/ts_store.h's.

void append_u32_be(std::string& out, uint32_t v);

}  // namespace meld::server::keys
