// xxHash helpers. XXH3-64 for hashing that stays in memory; XXH64 where the value is persisted
// or compared across nodes (its output is frozen by the xxHash spec).
#pragma once

#include <cstdint>
#include <string_view>

namespace meld {

uint64_t hash64(std::string_view data, uint64_t seed = 0);       // XXH64: stable, persisted
uint64_t fast_hash64(std::string_view data, uint64_t seed = 0);  // XXH3-64: in-memory only

}  // namespace meld
