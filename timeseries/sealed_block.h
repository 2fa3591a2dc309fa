// Sealed blocks: the compact, immutable encoding of one series' samples over a time span
// (e.g. one week, at most kBlockSamplesMax samples), read back bit for bit.
//
// A block holds two columns. Each is a sequence of int64 that goes through the same integer
// pipeline: differencing of order 0, 1 or 2 (whichever makes the residuals smallest; timestamps
// usually take delta-of-delta), division by the GCD of the residuals (scrape intervals, page
// sizes), zigzag, then a split of each residual into low bits (k of them, chosen per column from
// the residuals' empirical entropy) that are bit-packed raw, and a high part stored as one byte
// (255 escapes to a varint). The high bytes of both columns go through zstd, which removes
// repetition and entropy-codes what is left; the low bits are close to uniform and stay raw.
//
// Values are turned into integers when that is lossless, as VictoriaMetrics and ALP do: the
// block picks one decimal exponent e (0..18) and stores v as the integer m with m / 10^e == v
// (IEEE division, correctly rounded, so every float parsed from decimal text with at most e
// digits after the point qualifies). Values that do not round-trip at e (NaN, infinities, -0.0,
// binary fractions) are exceptions kept as raw bits. A block whose values are all the same bits
// stores them once; a block with too many exceptions falls back to Gorilla XOR coding.
//
// Layout (varints are LEB128):
//   byte: format version (high nibble, 1) | value mode (bits 0-1) | packed section zstd (bit 2)
//   varint sample count (1..kBlockSamplesMax)
//   varint stored size of the packed section, then the packed section (a zstd frame or raw):
//     timestamp column; value part (constant: 8 bytes | decimal: exponent byte, integer column,
//     exception count and (position delta, 8 raw bytes) pairs | xor: nothing)
//   raw section to the end of the block: the columns' low bits (LSB first), zero-padded to a
//   byte, then in xor mode the Gorilla XOR value stream.
//   column: byte order (bits 0-1); zigzag varint seeds (the first `order` terms); varint GCD of
//   the residuals (0: all residuals are 0, nothing follows); byte k; one high byte per residual.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "timeseries/sample.h"

namespace meld::ts {

// Hard caps that every block decoder enforces.
inline constexpr uint32_t kBlockSamplesMax = 16384;
inline constexpr size_t kBlockBytesMax = size_t{kBlockSamplesMax} * 40;
// The packed section of a valid block is never larger than this once decompressed.
inline constexpr size_t kBlockPackedBytesMax = size_t{kBlockSamplesMax} * 24 + 64;

// Encodes blocks. Holds a zstd context and scratch buffers, so reuse one encoder per thread.
class BlockEncoder {
 public:
  // zstd_level: 1..19; higher packs tighter and encodes slower, decoding speed barely changes.
  explicit BlockEncoder(int zstd_level = 9);
  ~BlockEncoder();
  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;

  // Appends the block for `samples` to *out. Errors: invalid_argument if samples is empty, longer
  // than kBlockSamplesMax, or its timestamps are not strictly increasing (out is unchanged).
  Status encode(std::span<const Sample> samples, std::string* out);

 private:
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
  int zstd_level_;
};

// Decodes blocks. Holds a zstd context and scratch buffers, so reuse one decoder per thread.
class BlockDecoder {
 public:
  BlockDecoder();
  ~BlockDecoder();
  BlockDecoder(const BlockDecoder&) = delete;
  BlockDecoder& operator=(const BlockDecoder&) = delete;

  // Replaces *samples with the block's samples. Any input is safe: malformed, truncated or
  // oversized blocks (above kBlockBytesMax, more than kBlockSamplesMax samples, a packed section
  // whose declared size is above kBlockPackedBytesMax, trailing bytes, timestamps that do not
  // increase) return corruption and leave *samples unspecified.
  Status decode(std::string_view block, std::vector<Sample>* samples);

 private:
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace meld::ts
