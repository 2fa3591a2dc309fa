// libFuzzer target for crdt::decode: any bytes must decode to a valid state or give an error
// status; never a crash, a sanitizer report or an escaping exception. A decoded state must
// re-encode to bytes that decode to the same state, and merging it with itself must not change it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "crdt/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const meld::crdt::DecodeLimits limits{
      .max_bytes = 1 << 20, .max_entries = 1 << 14, .max_blob_bytes = 1 << 10, .max_map_depth = 4};
  auto decoded = meld::crdt::decode<meld::crdt::Value>(
      std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (!decoded.is_ok()) return 0;
  auto again = meld::crdt::decode<meld::crdt::Value>(meld::crdt::encode(*decoded), limits);
  MELD_ASSERT(again.is_ok(), "a decoded state did not re-decode: " + again.status().to_string());
  MELD_ASSERT(*again == *decoded, "a decoded state did not round-trip");
  meld::crdt::Value merged = *decoded;
  merged.merge(*decoded);
  MELD_ASSERT(merged == *decoded, "merge of a decoded state with itself changed it");
  return 0;
}
