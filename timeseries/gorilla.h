// Head chunks: the Gorilla encoding (Pelkonen et al., VLDB 2015, §4.1) of one series' recent
// samples, append-only and bounded.
//
// Chunk bytes: a 2-byte little-endian sample count, then a bit stream (most significant bit
// first, zero-padded to a byte):
//   sample 0: timestamp (64 bits, two's complement), value (64 bits, IEEE-754)
//   sample i: the delta-of-delta of the timestamp (the delta before sample 1 is 0), as
//               '0' (0) | '10'+7 bits [-64,63] | '110'+9 bits [-256,255] |
//               '1110'+12 bits [-2048,2047] | '11110'+32 bits | '11111'+64 bits (any jump),
//             then the value XORed with the previous value's bits, as
//               '0' (same bits) | '10'+bits inside the previous leading/trailing-zero window |
//               '11'+5 bits leading zeros (at most 31)+6 bits length (0 means 64)+the bits.
// Arithmetic on timestamps wraps modulo 2^64, so any strictly increasing int64 timestamps
// round-trip, and values round-trip bit for bit (NaN payloads, -0.0, infinities).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "timeseries/bit_stream.h"
#include "timeseries/sample.h"

namespace meld::ts {

// Hard caps that every chunk decoder enforces, whatever the encoder's limits were.
inline constexpr uint32_t kChunkSamplesMax = 4096;
inline constexpr size_t kChunkBytesMax = 64 * 1024;
// Bytes one sample can take at most (5+64 bits of time, 2+5+6+64 bits of value), rounded up.
inline constexpr size_t kChunkSampleBytesWorst = 19;

struct ChunkLimits {
  uint32_t samples_max = 240;  // Prometheus cuts at 120 samples; twice that still decodes fast
  size_t bytes_max = 4096;
};

// The XOR value coding shared by head chunks and the sealed blocks' float fallback.
class XorValueEncoder {
 public:
  // Writes the first value raw and each later one XORed against the previous.
  void append(uint64_t bits, bool first, BitWriter* out);

 private:
  uint64_t prev_bits_ = 0;
  int prev_leading_ = -1;  // -1: no window yet
  int prev_trailing_ = 0;
};

class XorValueDecoder {
 public:
  // Reads one value; false if the stream ends early or holds an impossible window.
  [[nodiscard]] bool next(bool first, BitReader* in, uint64_t* bits);

 private:
  uint64_t prev_bits_ = 0;
  int prev_leading_ = -1;
  int prev_trailing_ = 0;
};

// An open head chunk. A plain value: copy it, move it, store its bytes().
class GorillaChunk {
 public:
  // limits.samples_max must be in [1, kChunkSamplesMax] and limits.bytes_max in
  // [kChunkSampleBytesWorst + 2, kChunkBytesMax] (asserted).
  explicit GorillaChunk(ChunkLimits limits = {});

  // Appends a sample. Errors: invalid_argument if timestamp_ms is not greater than the last one
  // (the chunk is unchanged); resource_exhausted if the chunk is full (see has_room()).
  Status append(const Sample& sample);
  // True if one more sample fits whatever its value: fewer than samples_max samples and room for
  // the worst-case encoding within bytes_max.
  bool has_room() const;

  uint32_t sample_count() const { return count_; }
  // The encoded chunk (header and bits so far); valid until the next append.
  std::string_view bytes() const { return bytes_; }

 private:
  ChunkLimits limits_;
  std::string bytes_;
  int free_bits_ = 0;  // unused low bits of the last byte
  XorValueEncoder values_;
  uint32_t count_ = 0;
  int64_t last_timestamp_ms_ = 0;
  uint64_t last_delta_ = 0;
};

// Iterates over an encoded chunk. The chunk bytes are borrowed and must outlive the iterator.
class GorillaIterator {
 public:
  // Checks the header: corruption if shorter than 2 bytes or the count is above
  // kChunkSamplesMax or the input is longer than kChunkBytesMax.
  static Result<GorillaIterator> open(std::string_view chunk);

  // The next sample, or false at the end or on malformed input (then status() says why:
  // truncated stream, impossible window, timestamps not increasing, or trailing bytes).
  bool next(Sample* sample);
  const Status& status() const { return status_; }
  uint32_t sample_count() const { return count_; }

 private:
  GorillaIterator(std::string_view chunk, uint32_t count);
  bool fail(std::string message);

  BitReader reader_;
  XorValueDecoder values_;
  uint32_t count_;
  uint32_t index_ = 0;
  int64_t last_timestamp_ms_ = 0;
  uint64_t last_delta_ = 0;
  Status status_;
};

// Decodes a whole chunk into *samples (replacing its contents); the iterator's errors.
Status decode_chunk(std::string_view chunk, std::vector<Sample>* samples);

}  // namespace meld::ts
