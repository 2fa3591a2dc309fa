// The write-ahead records of storage::TsStore (one per write() call, in the ts_log family): their
// coding, apart from the store so that tests and a fuzz target can reach the decoder.
//
// A record: a 0 byte (the compact value coding), a varint entry count, then per entry an 8-byte
// big-endian series id, a varint sample count and the samples: a zigzag varint timestamp delta
// from the previous sample of the entry (the first from 0), then the value's bits XORed with the
// previous value's of the entry (the first with 0) as one byte (zero_bytes_above << 4 | length),
// 0 when equal, and the `length` (1..8) bytes of the XOR that can be non-zero, little-endian.
// Gauges and counters change a few middle bytes from one sample to the next, so a sample takes
// about 4 bytes instead of 10; the commit thread, RocksDB's log and its memtable copy every one
// of them. Records written before this coding have no leading 0 byte (their entry count, never
// 0, comes first) and raw 8-byte little-endian values; decode_record() reads both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "timeseries/sample.h"

namespace meld::storage::ts_wal {

// Decoding bounds.
inline constexpr uint64_t kEntriesMax = 1 << 20;
inline constexpr uint64_t kEntrySamplesMax = 1 << 24;

// One entry of a record: the samples of one series.
struct Entry {
  uint64_t series_id = 0;
  std::vector<ts::Sample> samples;
};

// Bytes a record of this many entries and samples takes at most (to reserve).
size_t record_bytes_max(size_t entries, size_t samples);
// Starts a record of `entries` entries (at least 1) in *out, which must be empty.
void start_record(size_t entries, std::string* out);
// Appends one entry (at least one sample) to a record being built.
void append_entry(uint64_t series_id, std::span<const ts::Sample> samples, std::string* out);

// Decodes a whole record into *entries (replacing them). corruption, naming record seq and what
// is wrong, for anything that is not exactly a record within the bounds above.
Status decode_record(uint64_t seq, std::string_view record, std::vector<Entry>* entries);

}  // namespace meld::storage::ts_wal
