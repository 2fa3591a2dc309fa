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
// ts family: 'L' series_id -> canonical label set (detects hash collisions)
std::string series_labels(uint64_t series_id);
// ts family: 'S' series_id ts -> float64 bits; ts is sign-flipped so negative times sort first.
std::string sample(uint64_t series_id, int64_t timestamp_ms);
int64_t sample_timestamp(std::string_view sample_key);

// The smallest key greater than every key starting with prefix; empty (no bound) if none exists.
std::string prefix_successor(std::string prefix);

void append_u32_be(std::string& out, uint32_t v);
void append_u64_be(std::string& out, uint64_t v);
uint64_t read_u64_be(std::string_view in);

}  // namespace meld::server::keys
