// How the single-node slice lays out the RocksDB keys its services write directly.
#pragma once

#include <string>
#include <string_view>

namespace meld::server::keys {

// crdt family: 'c' name
std::string counter(std::string_view name);
// Sets live in the big_set family, laid out by storage/big_set_format.h.
// The ts family's layout is storage/ts_store.h's.

}  // namespace meld::server::keys
