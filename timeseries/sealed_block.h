// Sealed blocks: the compact, immutable encoding of one series' samples over a time span
// (e.g. one week, at most kBlockSamplesMax samples), read back bit for bit.
//
// A block holds two columns. Each is a sequence of int64 that goes through the same integer
// pipeline: differencing of order 0, 1 or 2, division by the GCD of the residuals (scrape
// intervals, page sizes), a map to unsigned (zigzag, or offsets from the minimum when that is
// cheaper), then one of two entropy codes, whichever the estimate prefers: (a) each residual
// split into k raw low bits (bit-packed) and a high byte (255 escapes to a varint) that goes
// through zstd, which removes repetition and Huffman-codes the rest; or (b) a Rice code, the
// high part in unary next to the low bits (no table: wins on short high-entropy columns, and
// costs a Gaussian's steps only ~0.1 bit above their entropy). Order, mapping, k and code are
// chosen per column from the residuals' empirical entropy.
//
// Values are turned into integers when that is lossless, as VictoriaMetrics and ALP do: the
// block picks one decimal exponent e (0..18) and a formula, v = m / 10^e (IEEE division: every
// float parsed from decimal text with at most e digits after the point) or v = m * 10^-e (floats
// computed as integer times a power of ten), plus an optional correction column of -1/0/+1 ulp
// for floats one rounding away (x / 1000 / 1000, 0.1 + 0.2, -0.0). Values that still do not
// fit (NaN, infinities, binary fractions) are exceptions kept as raw bits. A block whose values
// are all the same bits stores them once; a block with more than 1/4 exceptions stores the
// float bits as ordered integers through the integer pipeline, or Gorilla XOR, whichever is
// smaller.
//
// Layout (varints are LEB128, zigzag for signed):
//   byte: format version (high nibble, 1) | packed section zstd (bit 2) | value mode (bits 0-1:
//         0 constant, 1 decimal, 2 xor, 3 ordered bits)
//   varint sample count (1..kBlockSamplesMax)
//   varint stored size of the packed section, then the packed section (a zstd frame or raw):
//     timestamp column, then by value mode:
//       constant: byte e and varint m, or byte 0xff and 8 raw bytes
//       decimal: byte e | 0x80 multiply | 0x40 corrected; integer column; correction column if
//                flagged; varint exception count, then (varint position delta, 8 raw bytes)
//       xor: nothing; ordered bits: integer column
//   raw section to the end of the block: the columns' low bits and Rice codes (LSB first),
//   zero-padded to a byte, then in xor mode the Gorilla XOR value stream (see gorilla.h).
//   integer column: byte order | 0x4 offsets; varint seeds (the first `order` terms); varint GCD
//   of the residuals (0: all residuals are 0, nothing follows); varint minimum if offsets; byte
//   k | 0x80 Rice; unless Rice, one high byte per residual.
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

// Hard caps that every block decoder enforces; the encoder never exceeds them (a column costs at
// most about 9 bytes per sample, exceptions 18 bytes for at most a quarter of the samples).
inline constexpr uint32_t kBlockSamplesMax = 16384;
inline constexpr size_t kBlockBytesMax = size_t{kBlockSamplesMax} * 64 + 256;
// The packed section of a block, decompressed.
inline constexpr size_t kBlockPackedBytesMax = size_t{kBlockSamplesMax} * 32 + 256;

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
