// libFuzzer target for the big set element value decoder (storage/big_set_value.h): any bytes
// must decode to a valid state or give an error status; never a crash, a sanitizer report or an
// escaping exception. A decoded state must re-encode to the same bytes (the encoding is
// canonical), and its join with itself must be itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "storage/big_set_value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace format = meld::storage::big_set_format;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = format::decode_element_value(bytes);
  if (!decoded.is_ok()) return 0;
  MELD_ASSERT(format::encode_element_value(*decoded) == bytes,
              "a decoded element value did not re-encode to its bytes");
  MELD_ASSERT(format::join_element_states(*decoded, *decoded) == *decoded,
              "joining a decoded element value with itself changed it");
  return 0;
}
