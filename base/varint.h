// The integer encodings of MeldDB's own binary formats and keys: LEB128 varints (seven bits a
// byte, the least significant group first, the high bit set on every byte but the last) for
// write-ahead records, sealed time-series blocks and big set element values; zigzag for signed
// deltas; fixed-width big-endian for keys that must sort by their integers and fixed fields.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace meld {

inline void put_varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// The bytes put_varint writes for v.
inline size_t varint_bytes(uint64_t v) {
  return static_cast<size_t>(std::bit_width(v | 1) + 6) / 7;
}

// Reads the varint at in[*pos] into *v and moves *pos past it. False, with *pos unchanged, when
// the input ends first or the value needs more than 64 bits. Padded forms (a redundant 0x80
// continuation) are read as their value: a format that must be canonical compares the bytes
// read with varint_bytes(*v).
inline bool get_varint(std::string_view in, size_t* pos, uint64_t* v) {
  uint64_t result = 0;
  size_t at = *pos;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at == in.size()) return false;
    const auto byte = static_cast<uint8_t>(in[at++]);
    if (shift == 63 && byte > 1) return false;
    result |= uint64_t{byte & 0x7fu} << shift;
    if (byte < 0x80) {
      *v = result;
      *pos = at;
      return true;
    }
  }
  return false;
}

// Zigzag: signed integers as unsigned ones that stay small when the magnitude is small (0, -1,
// 1, -2, ... -> 0, 1, 2, 3, ...), for varints of deltas.
inline uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t unzigzag(uint64_t z) {
  return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
}

inline void put_u64_be(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
inline void put_u32_be(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
// Read the first 8 (4) bytes of in, which must hold that many.
inline uint64_t get_u64_be(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
inline uint32_t get_u32_be(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

}  // namespace meld
