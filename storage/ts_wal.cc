#include "storage/ts_wal.h"

#include <bit>
#include <cstring>

#include "base/varint.h"

namespace meld::storage::ts_wal {
namespace {

constexpr char kCompactValues = '\0';       // a record's first byte: the XOR value coding
constexpr size_t kSampleBytesMax = 10 + 9;  // a timestamp varint, a value byte and 8 bytes

}  // namespace

size_t record_bytes_max(size_t entries, size_t samples) {
  return 1 + 10 + entries * (8 + 10) + samples * kSampleBytesMax;
}

void start_record(size_t entries, std::string* out) {
  out->push_back(kCompactValues);
  put_varint(entries, out);
}

void append_entry(uint64_t series_id, std::span<const ts::Sample> samples, std::string* out) {
  put_u64_be(series_id, out);
  put_varint(samples.size(), out);
  int64_t prev = 0;
  uint64_t prev_bits = 0;
  for (const ts::Sample& s : samples) {
    put_varint(zigzag(static_cast<int64_t>(static_cast<uint64_t>(s.timestamp_ms) -
                                           static_cast<uint64_t>(prev))),
               out);
    prev = s.timestamp_ms;
    const uint64_t bits = std::bit_cast<uint64_t>(s.value);
    const uint64_t x = bits ^ prev_bits;
    prev_bits = bits;
    if (x == 0) {
      out->push_back('\0');
      continue;
    }
    const int above = std::countl_zero(x) / 8;
    const int below = std::countr_zero(x) / 8;
    const int length = 8 - above - below;
    char bytes[9];
    bytes[0] = static_cast<char>((above << 4) | length);
    uint64_t kept = x >> (8 * below);
    if constexpr (std::endian::native == std::endian::big) kept = __builtin_bswap64(kept);
    std::memcpy(bytes + 1, &kept, 8);  // little-endian; the first `length` bytes are kept
    out->append(bytes, static_cast<size_t>(1 + length));
  }
}

Status decode_record(uint64_t seq, std::string_view record, std::vector<Entry>* entries) {
  auto bad = [seq](const std::string& what) {
    return Status::corruption("time-series write-ahead record " + std::to_string(seq) + ": " +
                              what);
  };
  entries->clear();
  const bool compact = !record.empty() && record[0] == kCompactValues;
  size_t pos = compact ? 1 : 0;
  // The fewest bytes a sample takes: a timestamp byte and the value's byte or 8 bytes.
  const size_t sample_bytes_min = compact ? 2 : 9;
  uint64_t count = 0;
  if (!get_varint(record, &pos, &count) || count > kEntriesMax) return bad("bad entry count");
  for (uint64_t e = 0; e < count; ++e) {
    Entry entry;
    if (record.size() - pos < 8) return bad("truncated series id");
    entry.series_id = get_u64_be(record.substr(pos));
    pos += 8;
    uint64_t n = 0;
    if (!get_varint(record, &pos, &n) || n == 0 || n > kEntrySamplesMax) {
      return bad("bad sample count");
    }
    if (n > (record.size() - pos) / sample_bytes_min) return bad("truncated samples");
    entry.samples.resize(n);
    int64_t ts = 0;
    uint64_t bits = 0;
    for (ts::Sample& s : entry.samples) {
      uint64_t delta = 0;
      if (!get_varint(record, &pos, &delta) || pos == record.size()) {
        return bad("truncated sample");
      }
      ts = static_cast<int64_t>(static_cast<uint64_t>(ts) + static_cast<uint64_t>(unzigzag(delta)));
      if (compact) {
        const auto head = static_cast<uint8_t>(record[pos++]);
        const int above = head >> 4;
        const int length = head & 15;
        if (head != 0 && (length == 0 || above + length > 8)) return bad("bad value length");
        if (record.size() - pos < static_cast<size_t>(length)) return bad("truncated value");
        uint64_t x = 0;
        for (int i = length - 1; i >= 0; --i) {
          x = (x << 8) | static_cast<uint8_t>(record[pos + static_cast<size_t>(i)]);
        }
        pos += static_cast<size_t>(length);
        if (length > 0) bits ^= x << (8 * (8 - above - length));
      } else {
        if (record.size() - pos < 8) return bad("truncated sample");
        std::memcpy(&bits, record.data() + pos, 8);
        pos += 8;
      }
      s = {ts, std::bit_cast<double>(bits)};
    }
    entries->push_back(std::move(entry));
  }
  if (pos != record.size()) return bad("trailing bytes");
  return Status::ok();
}

}  // namespace meld::storage::ts_wal
