// The canonical binary encoding of CRDT values (schema: crdt/crdt.capnp).
//
// encode() writes one Cap'n Proto message (unpacked, flat: segment table then segments) whose
// root is a crdt::schema::Value union, so the bytes name their kind. Lists are written in key
// order from compacted states, so equal states give identical bytes: replicas compare hashes of
// them (anti-entropy).
//
// decode() accepts untrusted bytes. It returns the value, or a Status, never crashes:
// resource_exhausted when a limit below is exceeded, corruption when the bytes are not a
// Cap'n Proto message of this schema (or the traversal / nesting limits trip), invalid_argument
// when the message is well formed but not a canonical state of the requested kind (unsorted or
// duplicate entries, uncompacted contexts, dots not covered by the context, a dot shared by two
// elements, a map value whose kind is not its key's). What decode() accepts is a valid state, and
// decode(encode(x)) == x; bytes laid out differently from encode()'s output (Cap'n Proto allows
// several layouts of one message) may decode too, so compare encode(decode(bytes)), not bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "crdt/counter.h"
#include "crdt/map.h"
#include "crdt/register.h"
#include "crdt/set.h"

namespace meld::crdt {

struct DecodeLimits {
  size_t max_bytes = 64 << 20;
  // List entries across the whole value: dots, elements, tokens, keys, prefixes.
  uint64_t max_entries = 1 << 22;
  // One set element, register value or map key name.
  size_t max_blob_bytes = 1 << 16;
  // Maps nested in maps (a top-level map has depth 1).
  int max_map_depth = 8;
};

std::string encode(const GCounter& value);
std::string encode(const PnCounter& value);
std::string encode(const AwSet& value);
std::string encode(const RwSet& value);
std::string encode(const LwwRegister& value);
std::string encode(const MvRegister& value);
std::string encode(const OrMap& value);
std::string encode(const Value& value);

// T is one of the types encode() takes. A message of another kind is invalid_argument.
template <typename T>
Result<T> decode(std::string_view bytes, const DecodeLimits& limits = {});

}  // namespace meld::crdt
