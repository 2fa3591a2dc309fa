// Bit-level writer and reader for the Gorilla streams (most significant bit first). Internal to
// timeseries/: the formats built on it are documented in gorilla.h and sealed_block.h.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace meld::ts {

// Appends bits to a byte string; the last byte is zero-padded until more bits arrive.
class BitWriter {
 public:
  // The bytes are appended to *out, which must outlive the writer. free_bits: unused low bits of
  // out->back() left by an earlier writer (0..7; 0 starts at a fresh byte).
  explicit BitWriter(std::string* out, int free_bits = 0) : out_(out), free_bits_(free_bits) {}

  // Writes the low `bit_count` (0..64) bits of `bits`, most significant first.
  void write(uint64_t bits, int bit_count) {
    if (bit_count == 0) return;
    if (bit_count < 64) bits &= (uint64_t{1} << bit_count) - 1;
    if (free_bits_ > 0) {  // top up the last byte
      const int take = std::min(bit_count, free_bits_);
      const auto part = static_cast<uint8_t>(bits >> (bit_count - take));
      out_->back() = static_cast<char>(static_cast<uint8_t>(out_->back()) |
                                       static_cast<uint8_t>(part << (free_bits_ - take)));
      free_bits_ -= take;
      bit_count -= take;
      if (bit_count == 0) return;
      bits &= (uint64_t{1} << bit_count) - 1;
    }
    // Byte-aligned now: whole bytes at once, then the rest in a fresh byte.
    char bytes[9];
    int n = 0;
    for (; bit_count >= 8; bit_count -= 8) bytes[n++] = static_cast<char>(bits >> (bit_count - 8));
    if (bit_count > 0) {
      bytes[n++] = static_cast<char>((bits << (8 - bit_count)) & 0xff);
      free_bits_ = 8 - bit_count;
    }
    out_->append(bytes, static_cast<size_t>(n));
  }
  void write_bit(bool bit) { write(bit ? 1 : 0, 1); }
  int free_bits() const { return free_bits_; }

 private:
  std::string* out_;
  int free_bits_;  // unused low bits in out_->back()
};

// Reads bits from a borrowed byte range that must outlive the reader. Every read is bounds-checked:
// asking for more bits than remain fails and consumes nothing.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size_bytes) : data_(data), size_bits_(size_bytes * 8) {}

  // Reads `bit_count` (0..64) bits into *bits; false if fewer remain.
  [[nodiscard]] bool read(int bit_count, uint64_t* bits) {
    if (static_cast<size_t>(bit_count) > size_bits_ - pos_bits_) return false;
    if (bit_count == 0) {
      *bits = 0;
      return true;
    }
    const size_t byte = pos_bits_ >> 3;
    const int offset = static_cast<int>(pos_bits_ & 7);
    pos_bits_ += static_cast<size_t>(bit_count);
    if (byte + 8 > size_bits_ / 8) {  // the last bytes: one at a time
      uint64_t result = 0;
      for (size_t at = pos_bits_ - static_cast<size_t>(bit_count); at < pos_bits_; ++at) {
        result = (result << 1) | ((data_[at >> 3] >> (7 - (at & 7))) & 1u);
      }
      *bits = result;
      return true;
    }
    // Eight bytes at once, most significant first; the bits past them come from a ninth byte,
    // which exists because the read fits.
    uint64_t word;
    std::memcpy(&word, data_ + byte, sizeof word);
    if constexpr (std::endian::native == std::endian::little) word = __builtin_bswap64(word);
    word <<= offset;
    uint64_t result = word >> (64 - bit_count);
    const int missing = bit_count + offset - 64;
    if (missing > 0) result |= static_cast<uint64_t>(data_[byte + 8] >> (8 - missing));
    *bits = result;
    return true;
  }
  [[nodiscard]] bool read_bit(bool* bit) {
    uint64_t b = 0;
    if (!read(1, &b)) return false;
    *bit = b != 0;
    return true;
  }
  size_t remaining_bits() const { return size_bits_ - pos_bits_; }

 private:
  const uint8_t* data_;
  size_t size_bits_;
  size_t pos_bits_ = 0;
};

}  // namespace meld::ts
