// libFuzzer target for the time-series write-ahead record decoder (storage/ts_wal.h): any bytes
// must decode or give an error status; never a crash, a sanitizer report or an escaping
// exception. A decoded record, encoded again, must decode to the same samples bit for bit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "storage/ts_wal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace wal = meld::storage::ts_wal;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<wal::Entry> decoded;
  if (!wal::decode_record(7, bytes, &decoded).is_ok()) return 0;
  std::string again;
  wal::start_record(decoded.size(), &again);
  for (const wal::Entry& e : decoded) wal::append_entry(e.series_id, e.samples, &again);
  std::vector<wal::Entry> redecoded;
  MELD_ASSERT(wal::decode_record(7, again, &redecoded).is_ok(),
              "a re-encoded write-ahead record did not decode");
  MELD_ASSERT(redecoded.size() == decoded.size(), "entry count changed");
  for (size_t i = 0; i < decoded.size(); ++i) {
    MELD_ASSERT(redecoded[i].series_id == decoded[i].series_id, "series id changed");
    MELD_ASSERT(redecoded[i].samples.size() == decoded[i].samples.size(), "sample count changed");
    for (size_t j = 0; j < decoded[i].samples.size(); ++j) {
      MELD_ASSERT(meld::ts::identical(redecoded[i].samples[j], decoded[i].samples[j]),
                  "a sample changed");
    }
  }
  return 0;
}
