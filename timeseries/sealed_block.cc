#include "timeseries/sealed_block.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "base/varint.h"
#include "timeseries/bit_stream.h"
#include "timeseries/gorilla.h"

namespace meld::ts {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kFlagZstd = 0x4;
enum ValueMode : uint8_t {
  kValuesConstant = 0,
  kValuesDecimal = 1,
  kValuesXor = 2,
  kValuesBits = 3
};
constexpr uint8_t kExponentMultiply = 0x80;   // decimal exponent byte flag: m * 10^-e
constexpr uint8_t kExponentCorrected = 0x40;  // decimal exponent byte flag: corrections follow
constexpr uint8_t kExponentMask = 0x3f;
constexpr uint8_t kConstantRaw = 0xff;  // constant value byte: 8 raw bytes follow

constexpr int kDecimalExponentMax = 18;  // 10^18 is exact in a double, and so is any |m| <= 2^53
constexpr double kExactIntegerMax = 9007199254740992.0;  // 2^53
constexpr double kPow10[kDecimalExponentMax + 1] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,
                                                    1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
                                                    1e14, 1e15, 1e16, 1e17, 1e18};
constexpr double kInversePow10[kDecimalExponentMax + 1] = {
    1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8, 1e-9,
    1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18};
// An exception costs its raw 8 bytes and a position; each extra decimal digit costs about
// log2(10) bits on every sample whose value changed.
constexpr double kExceptionBits = 72;
constexpr double kBitsPerDecimalDigit = 3.33;
constexpr double kCorrectionBits = 2;
// Above this share of exceptions, the float-bits modes (ordered bits or Gorilla XOR) win.
constexpr size_t kExceptionShareMaxDenominator = 4;
// Raw low bits must beat all-bytes coding by this factor to be chosen, because zstd also finds
// repetitions in the high bytes that the entropy estimate does not see.
constexpr double kLowBitsGainMin = 0.92;
// What zstd's Huffman table costs per distinct high byte, roughly; weighed against Rice codes.
constexpr double kTableBitsPerSymbol = 4;
// A residual stream costs its header and zstd's per-stream overhead (a Huffman table, or a
// repeat sequence for a run of one byte) on top of the entropy estimate.
constexpr double kResidualStreamBits = 160;
constexpr uint8_t kHighEscape = 255;
constexpr uint8_t kLowBitsRice = 0x80;  // column k byte flag: Rice-coded residuals
// A Rice quotient this large is written as this many zero bits and then the residual in full.
constexpr int kRiceUnaryMax = 32;
constexpr uint8_t kColumnOffsets = 0x4;  // column header flag: residuals are offsets from a base
constexpr size_t kRawPaddingBytes = 16;

void put_u64_le(uint64_t v, std::string* out) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  out->append(bytes, 8);
}

// Appends bit fields least significant bit first, 64 bits at a time.
class LowBitWriter {
 public:
  explicit LowBitWriter(std::string* out) : out_(out) {}

  void write(uint64_t v, int bit_count) {
    if (bit_count == 0) return;
    if (bit_count == 64) {
      write(v & 0xffffffffu, 32);
      write(v >> 32, 32);
      return;
    }
    v &= (uint64_t{1} << bit_count) - 1;
    acc_ |= v << fill_;
    if (fill_ + bit_count >= 64) {
      put_u64_le(acc_, out_);
      const int used = 64 - fill_;
      acc_ = v >> used;
      fill_ = fill_ + bit_count - 64;
    } else {
      fill_ += bit_count;
    }
  }
  // Writes the partial word, padded with zero bits to a byte.
  void flush() {
    for (int i = 0; i < fill_; i += 8) out_->push_back(static_cast<char>(acc_ >> i));
    acc_ = 0;
    fill_ = 0;
  }

 private:
  std::string* out_;
  uint64_t acc_ = 0;
  int fill_ = 0;
};

// Reads LSB-first bit fields from a buffer followed by at least kRawPaddingBytes readable bytes;
// the caller checks the field count against the real size first.
class LowBitReader {
 public:
  LowBitReader(const uint8_t* data, size_t size_bytes) : data_(data), size_bits_(size_bytes * 8) {}

  bool has(size_t bit_count) const { return bit_count <= size_bits_ - pos_bits_; }
  uint64_t read(int bit_count) {
    if (bit_count == 0) return 0;
    const uint8_t* p = data_ + (pos_bits_ >> 3);
    const int shift = static_cast<int>(pos_bits_ & 7);
    uint64_t word;
    std::memcpy(&word, p, 8);
    uint64_t v = word >> shift;
    if (bit_count + shift > 64) v |= uint64_t{p[8]} << (64 - shift);
    pos_bits_ += static_cast<size_t>(bit_count);
    return bit_count == 64 ? v : v & ((uint64_t{1} << bit_count) - 1);
  }
  // A unary count: zero bits up to a one bit, both consumed. -1 after kRiceUnaryMax zero bits
  // (then those are consumed and the full value follows). May read past the end: check
  // within_bounds() after each value.
  int read_unary() {
    const uint8_t* p = data_ + (pos_bits_ >> 3);
    const int shift = static_cast<int>(pos_bits_ & 7);
    uint64_t word;
    std::memcpy(&word, p, 8);
    const int zeros = std::countr_zero((word >> shift) | (uint64_t{1} << kRiceUnaryMax));
    if (zeros >= kRiceUnaryMax) {
      pos_bits_ += kRiceUnaryMax;
      return -1;
    }
    pos_bits_ += static_cast<size_t>(zeros) + 1;
    return zeros;
  }
  bool within_bounds() const { return pos_bits_ <= size_bits_; }
  size_t position_bits() const { return pos_bits_; }

 private:
  const uint8_t* data_;
  size_t size_bits_;
  size_t pos_bits_ = 0;
};

// Bounds-checked reads from the packed section.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes)
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())), end_(p_ + bytes.size()) {}

  bool byte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = *p_++;
    return true;
  }
  bool varint(uint64_t* v) {
    const std::string_view rest(reinterpret_cast<const char*>(p_), remaining());
    size_t read = 0;
    if (!get_varint(rest, &read, v)) return false;
    p_ += read;
    return true;
  }
  bool u64_le(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= uint64_t{p_[i]} << (8 * i);
    p_ += 8;
    *v = r;
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }
  void skip(size_t n) { p_ += n; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

Status corrupt(const char* what) {
  return Status::corruption(std::string("block: ") + what);
}

// ---- integer columns ----

// Writes the terms of order `order` differencing of x into out (seeds first, then residuals),
// with wrapping arithmetic.
void difference(const int64_t* x, size_t n, int order, int64_t* out) {
  std::memcpy(out, x, n * sizeof(int64_t));
  for (int o = 0; o < order; ++o) {
    for (size_t i = n; i-- > static_cast<size_t>(o) + 1;) {
      out[i] =
          static_cast<int64_t>(static_cast<uint64_t>(out[i]) - static_cast<uint64_t>(out[i - 1]));
    }
  }
}

double entropy_bits(const uint32_t* histogram, size_t bins, size_t total) {
  double bits = 0;
  for (size_t i = 0; i < bins; ++i) {
    if (histogram[i] == 0) continue;
    bits += histogram[i] * std::log2(static_cast<double>(total) / histogram[i]);
  }
  return bits;
}

struct LowBitsChoice {
  int k;
  double cost_bits;  // estimated size of the column's high parts and low bits
  bool rice = false;
};

// The best Rice code for z: each residual as (z >> k) in unary, then its k low bits, all in the
// raw section; no table, so it wins over zstd on short, high-entropy columns (a Gaussian random
// walk's steps cost ~0.1 bit above their entropy).
LowBitsChoice choose_rice(const std::vector<uint64_t>& z) {
  long double sum = 0;
  for (uint64_t v : z) sum += v;
  const auto mean = static_cast<uint64_t>(sum / static_cast<long double>(z.size()));
  const int center = std::max(0, static_cast<int>(std::bit_width(mean)) - 1);
  const int k_min = std::max(0, center - 2);
  const int k_max = std::min(64, center + 2);
  // The candidates' costs in one pass over z (each sum adds the same terms in the same order as
  // a pass per k would).
  double bits[5] = {};
  for (uint64_t v : z) {
    for (int k = k_min; k <= k_max; ++k) {
      const uint64_t q = k == 64 ? 0 : v >> k;
      bits[k - k_min] += q < kRiceUnaryMax ? static_cast<double>(q + 1 + k) : kRiceUnaryMax + 64.0;
    }
  }
  LowBitsChoice best{0, 0, true};
  for (int k = k_min; k <= k_max; ++k) {
    if (k == k_min || bits[k - k_min] < best.cost_bits)
      best = LowBitsChoice{k, bits[k - k_min], true};
  }
  return best;
}

// Chooses the number of raw low bits for the unsigned residuals z: the k minimising k bits per
// residual plus the empirical entropy of the high bytes.
LowBitsChoice choose_low_bits(const std::vector<uint64_t>& z) {
  uint64_t max = 0;
  for (uint64_t v : z) max |= v;
  const int width = std::bit_width(max);
  double best_cost = 0;
  double zero_cost = 0;
  int best_k = 0;
  uint32_t histogram[256];
  for (int k = 0; k <= width; ++k) {
    std::fill(std::begin(histogram), std::end(histogram), 0);
    double escape_bits = 0;
    for (uint64_t v : z) {
      const uint64_t high = k == 64 ? 0 : v >> k;
      if (high >= kHighEscape) {
        ++histogram[kHighEscape];
        escape_bits += 8.0 * static_cast<double>(varint_bytes(high - kHighEscape));
      } else {
        ++histogram[high];
      }
    }
    const double cost =
        static_cast<double>(z.size()) * k + escape_bits + entropy_bits(histogram, 256, z.size());
    if (k == 0) {
      zero_cost = best_cost = cost;
    } else if (cost < best_cost) {
      best_cost = cost;
      best_k = k;
    } else if (cost > best_cost + static_cast<double>(z.size())) {
      break;  // past the minimum: each further bit only moves entropy into raw bits
    }
  }
  const int k = best_cost < kLowBitsGainMin * zero_cost ? best_k : 0;
  // What the entropy estimate leaves out: zstd's Huffman table, about one weight per symbol.
  std::fill(std::begin(histogram), std::end(histogram), 0);
  for (uint64_t v : z) ++histogram[std::min<uint64_t>(k == 64 ? 0 : v >> k, kHighEscape)];
  size_t symbols = 0;
  for (const uint32_t count : histogram) symbols += count != 0 ? 1 : 0;
  return {k, (k == best_k ? best_cost : zero_cost) + kTableBitsPerSymbol * symbols, false};
}

struct ColumnScratch {
  // Per differencing order: the terms, and the unsigned residuals plan_column() made of them.
  std::vector<int64_t> terms[3];
  std::vector<uint64_t> zigzagged[3];
  std::vector<uint64_t> offsets[3];
};

struct ColumnPlan {
  int order = 0;
  uint64_t gcd = 0;  // 0: every residual is 0
  bool use_offsets = false;
  int64_t base = 0;
  int k = 0;
  bool rice = false;  // high parts in unary in the raw section instead of bytes
  double cost_bits = 0;
};

// Plans the residuals of one differencing order (s->terms[order]): their GCD, then zigzag
// (robust to outliers) or offsets from their minimum (frame of reference: no sign bit wasted on
// data that is all one sign), whichever the entropy estimate prefers. Leaves the chosen
// unsigned residuals in s->zigzagged[order] and s->offsets[order].
ColumnPlan plan_column(int order, size_t n, ColumnScratch* s) {
  const std::vector<int64_t>& terms = s->terms[order];
  std::vector<uint64_t>& zigzagged = s->zigzagged[order];
  std::vector<uint64_t>& offsets = s->offsets[order];
  const size_t seeds = std::min<size_t>(static_cast<size_t>(order), n);
  ColumnPlan plan;
  plan.order = order;
  for (size_t i = seeds; i < n && plan.gcd != 1; ++i) {
    const auto r = static_cast<uint64_t>(terms[i]);
    plan.gcd = std::gcd(plan.gcd, terms[i] < 0 ? ~r + 1 : r);
  }
  if (plan.gcd > static_cast<uint64_t>(INT64_MAX)) plan.gcd = 1;  // all 0 or INT64_MIN
  for (size_t i = 0; i < seeds; ++i) plan.cost_bits += 8.0 * varint_bytes(zigzag(terms[i]));
  if (plan.gcd == 0) return plan;
  const size_t residuals = n - seeds;
  zigzagged.resize(residuals);
  offsets.resize(residuals);
  plan.base = INT64_MAX;
  for (size_t i = seeds; i < n; ++i) {
    const int64_t q = terms[i] / static_cast<int64_t>(plan.gcd);
    zigzagged[i - seeds] = zigzag(q);
    plan.base = std::min(plan.base, q);
  }
  for (size_t i = 0; i < residuals; ++i) {
    offsets[i] = static_cast<uint64_t>(unzigzag(zigzagged[i])) - static_cast<uint64_t>(plan.base);
  }
  LowBitsChoice choice = choose_low_bits(zigzagged);
  const LowBitsChoice offset_choice = choose_low_bits(offsets);
  if (offset_choice.cost_bits + 64 < choice.cost_bits) {
    choice = offset_choice;
    plan.use_offsets = true;
  }
  choice.cost_bits += kResidualStreamBits;
  for (const bool use_offsets : {false, true}) {
    const LowBitsChoice rice = choose_rice(use_offsets ? offsets : zigzagged);
    if (rice.cost_bits + (use_offsets ? 64 : 0) < choice.cost_bits) {
      choice = rice;
      plan.use_offsets = use_offsets;
    }
  }
  plan.k = choice.k;
  plan.rice = choice.rice;
  plan.cost_bits += choice.cost_bits;
  return plan;
}

// Encodes a column with the differencing order (0, 1 or 2) whose plan is estimated smallest.
void encode_int_column(const int64_t* x, size_t n, ColumnScratch* s, std::string* packed,
                       LowBitWriter* low) {
  ColumnPlan plan;
  for (int order = 0; order <= 2; ++order) {
    s->terms[order].resize(n);
    difference(x, n, order, s->terms[order].data());
    const ColumnPlan candidate = plan_column(order, n, s);
    if (order == 0 || candidate.cost_bits < plan.cost_bits) plan = candidate;
  }
  const std::vector<int64_t>& terms = s->terms[plan.order];
  const size_t seeds = std::min<size_t>(static_cast<size_t>(plan.order), n);
  packed->push_back(static_cast<char>(plan.order | (plan.use_offsets ? kColumnOffsets : 0)));
  for (size_t i = 0; i < seeds; ++i) put_varint(zigzag(terms[i]), packed);
  put_varint(plan.gcd, packed);
  if (plan.gcd == 0) return;
  if (plan.use_offsets) put_varint(zigzag(plan.base), packed);
  const std::vector<uint64_t>& unsigned_residuals =
      plan.use_offsets ? s->offsets[plan.order] : s->zigzagged[plan.order];
  const int k = plan.k;
  packed->push_back(static_cast<char>(k | (plan.rice ? kLowBitsRice : 0)));
  if (plan.rice) {
    for (uint64_t z : unsigned_residuals) {
      const uint64_t q = k == 64 ? 0 : z >> k;
      if (q < kRiceUnaryMax) {
        low->write(uint64_t{1} << q, static_cast<int>(q) + 1);
        low->write(z, k);
      } else {
        low->write(0, kRiceUnaryMax);
        low->write(z, 64);
      }
    }
    return;
  }
  for (uint64_t z : unsigned_residuals) {
    const uint64_t high = k == 64 ? 0 : z >> k;
    if (high >= kHighEscape) {
      packed->push_back(static_cast<char>(kHighEscape));
      put_varint(high - kHighEscape, packed);
    } else {
      packed->push_back(static_cast<char>(high));
    }
  }
  for (uint64_t z : unsigned_residuals) low->write(z, k);
}

Status decode_int_column(ByteReader* in, LowBitReader* low, size_t n, int64_t* out) {
  uint8_t header = 0;
  if (!in->byte(&header) || (header & ~(kColumnOffsets | 3)) != 0 || (header & 3) == 3) {
    return corrupt("bad column header");
  }
  const int order = header & 3;
  const size_t seeds = std::min<size_t>(static_cast<size_t>(order), n);
  int64_t seed[2] = {0, 0};
  for (size_t i = 0; i < seeds; ++i) {
    uint64_t z = 0;
    if (!in->varint(&z)) return corrupt("truncated column seeds");
    seed[i] = unzigzag(z);
  }
  uint64_t gcd = 0;
  if (!in->varint(&gcd)) return corrupt("truncated column gcd");
  const size_t residuals = n - seeds;
  int64_t* r = out + seeds;
  if (gcd == 0) {
    std::fill(r, r + residuals, 0);
  } else {
    uint64_t base = 0;
    if ((header & kColumnOffsets) != 0) {
      uint64_t z = 0;
      if (!in->varint(&z)) return corrupt("truncated column base");
      base = static_cast<uint64_t>(unzigzag(z));
    }
    uint8_t k_byte = 0;
    if (!in->byte(&k_byte) || (k_byte & ~kLowBitsRice) > 64) {
      return corrupt("bad column low-bit count");
    }
    const int k = k_byte & ~kLowBitsRice;
    const bool offsets = (header & kColumnOffsets) != 0;
    if ((k_byte & kLowBitsRice) != 0) {
      for (size_t i = 0; i < residuals; ++i) {
        uint64_t z = 0;
        const int q = low->read_unary();
        if (q < 0) {
          z = low->read(64);
        } else {
          z = (k == 64 ? 0 : uint64_t(q) << k) | low->read(k);
          if (k != 64 && k != 0 && (uint64_t(q) >> (64 - k)) != 0)
            return corrupt("residual overflow");
        }
        if (!low->within_bounds()) return corrupt("truncated low bits");
        const uint64_t v = offsets ? base + z : static_cast<uint64_t>(unzigzag(z));
        r[i] = static_cast<int64_t>(v * gcd);
      }
    } else {
      if (in->remaining() < residuals) return corrupt("truncated column");
      if (!low->has(residuals * k)) return corrupt("truncated low bits");
      for (size_t i = 0; i < residuals; ++i) {
        uint8_t b = 0;
        if (!in->byte(&b)) return corrupt("truncated column");
        uint64_t high = b;
        if (b == kHighEscape) {
          uint64_t extra = 0;
          if (!in->varint(&extra) || extra > UINT64_MAX - kHighEscape) return corrupt("bad escape");
          high += extra;
        }
        if (k == 64 ? high != 0 : (k != 0 && (high >> (64 - k)) != 0)) {
          return corrupt("residual overflow");
        }
        const uint64_t z = (k == 64 ? 0 : high << k) | low->read(k);
        const uint64_t q = offsets ? base + z : static_cast<uint64_t>(unzigzag(z));
        r[i] = static_cast<int64_t>(q * gcd);
      }
    }
  }
  // Integrate: order 1 is a prefix sum, order 2 a prefix sum of a prefix sum (wrapping).
  if (order == 1 && n > 0) {
    uint64_t acc = static_cast<uint64_t>(seed[0]);
    out[0] = seed[0];
    for (size_t i = 1; i < n; ++i) {
      acc += static_cast<uint64_t>(out[i]);
      out[i] = static_cast<int64_t>(acc);
    }
  } else if (order == 2 && n > 0) {
    uint64_t acc = static_cast<uint64_t>(seed[0]);
    out[0] = seed[0];
    uint64_t delta = static_cast<uint64_t>(seed[1]);
    for (size_t i = 1; i < n; ++i) {
      if (i >= 2) delta += static_cast<uint64_t>(out[i]);
      acc += delta;
      out[i] = static_cast<int64_t>(acc);
    }
  }
  return Status::ok();
}

// ---- decimal values ----

double decimal_value(int64_t m, int e, bool multiply) {
  const auto d = static_cast<double>(m);
  if (e == 0) return d;
  return multiply ? d * kInversePow10[e] : d / kPow10[e];
}

// The float's bits as an integer that orders like the float (negative values flipped), so that
// neighbouring floats are neighbouring integers. Its own inverse.
int64_t ordered_bits(double v) {
  const auto bits = std::bit_cast<int64_t>(v);
  return bits >= 0 ? bits : bits ^ INT64_MAX;
}
double from_ordered_bits(int64_t i) {
  return std::bit_cast<double>(i >= 0 ? i : i ^ INT64_MAX);
}

// m and a correction c in {-1, 0, 1} with v == the float c steps (ulps, in ordered_bits) from
// decimal_value(m, e, multiply), if there are such with |m| <= 2^53. Division matches floats
// parsed from decimal text; multiplication matches floats computed as an integer times a power
// of ten (ALP's observation, e.g. microseconds * 1e-6); the correction absorbs the last-bit
// rounding of other computations (x / 1000 / 1000, 0.1 + 0.2) and turns -0.0 into 0 and -1.
bool to_decimal(double v, int e, bool multiply, int64_t* m, int64_t* correction) {
  const double scaled = v * kPow10[e];
  if (!(std::fabs(scaled) <= kExactIntegerMax)) return false;  // also NaN and infinities
  const auto candidate = static_cast<int64_t>(std::nearbyint(scaled));
  const double back = decimal_value(candidate, e, multiply);
  const auto c = static_cast<int64_t>(static_cast<uint64_t>(ordered_bits(v)) -
                                      static_cast<uint64_t>(ordered_bits(back)));
  if (c < -1 || c > 1) return false;
  *m = candidate;
  *correction = c;
  return true;
}

// The smallest exponent at which v is a decimal (-1 if none), and its correction there.
int min_decimal_exponent(double v, bool multiply, int64_t* correction) {
  int64_t m = 0;
  for (int e = 0; e <= kDecimalExponentMax; ++e) {
    if (to_decimal(v, e, multiply, &m, correction)) return e;
    if (!(std::fabs(v * kPow10[e]) <= kExactIntegerMax)) return -1;
  }
  return -1;
}

struct DecimalChoice {
  int exponent = 0;
  bool multiply = false;
};

// Chooses the exponent and formula: more digits cost bits on every change, fewer leave
// exceptions, corrections cost a little. Leaves each value's smallest exponent (-1: none) for
// the chosen formula in *exponents.
DecimalChoice choose_decimal(std::span<const Sample> samples, size_t changes,
                             std::vector<int8_t>* exponents) {
  const size_t n = samples.size();
  DecimalChoice best;
  double best_cost = 0;
  int64_t correction = 0;
  for (const bool multiply : {false, true}) {
    size_t histogram[kDecimalExponentMax + 2] = {};  // last bin: no exponent works
    size_t corrected[kDecimalExponentMax + 1] = {};
    for (size_t i = 0; i < n; ++i) {
      const int e = min_decimal_exponent(samples[i].value, multiply, &correction);
      ++histogram[e < 0 ? kDecimalExponentMax + 1 : e];
      if (e >= 0 && correction != 0) ++corrected[e];
    }
    size_t decimal_below = 0;
    size_t corrected_below = 0;
    for (int e = 0; e <= kDecimalExponentMax; ++e) {
      decimal_below += histogram[e];
      corrected_below += corrected[e];
      const double cost = kExceptionBits * static_cast<double>(n - decimal_below) +
                          kBitsPerDecimalDigit * e * static_cast<double>(changes + 1) +
                          kCorrectionBits * static_cast<double>(corrected_below);
      if ((e == 0 && !multiply) || cost < best_cost) {
        best_cost = cost;
        best = DecimalChoice{e, multiply};
      }
    }
  }
  exponents->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*exponents)[i] =
        static_cast<int8_t>(min_decimal_exponent(samples[i].value, best.multiply, &correction));
  }
  return best;
}

}  // namespace

struct BlockEncoder::Scratch {
  ZSTD_CCtx* cctx = nullptr;
  ColumnScratch columns;
  std::vector<int64_t> ints;
  std::vector<int8_t> exponents;
  std::vector<int64_t> corrections;
  std::vector<uint32_t> exceptions;
  std::string packed;
  std::string compressed;
  std::string raw;
  std::string xor_stream;
};

BlockEncoder::BlockEncoder(int zstd_level) : scratch_(new Scratch), zstd_level_(zstd_level) {
  MELD_ASSERT(zstd_level >= 1 && zstd_level <= 19, "zstd level out of range");
  scratch_->cctx = ZSTD_createCCtx();
  MELD_ASSERT(scratch_->cctx != nullptr, "ZSTD_createCCtx failed");
}

BlockEncoder::~BlockEncoder() {
  ZSTD_freeCCtx(scratch_->cctx);
}

Status BlockEncoder::encode(std::span<const Sample> samples, std::string* out) {
  const size_t n = samples.size();
  if (n == 0) return Status::invalid_argument("block: no samples");
  if (n > kBlockSamplesMax) return Status::invalid_argument("block: too many samples");
  for (size_t i = 1; i < n; ++i) {
    if (samples[i].timestamp_ms <= samples[i - 1].timestamp_ms) {
      return Status::invalid_argument("block: timestamps not strictly increasing at sample " +
                                      std::to_string(i));
    }
  }
  Scratch& s = *scratch_;
  s.packed.clear();
  s.raw.clear();
  LowBitWriter low(&s.raw);

  s.ints.resize(n);
  for (size_t i = 0; i < n; ++i) s.ints[i] = samples[i].timestamp_ms;
  encode_int_column(s.ints.data(), n, &s.columns, &s.packed, &low);

  const uint64_t first_bits = std::bit_cast<uint64_t>(samples[0].value);
  bool constant = true;
  size_t changes = 0;
  for (size_t i = 1; i < n; ++i) {
    if (std::bit_cast<uint64_t>(samples[i].value) !=
        std::bit_cast<uint64_t>(samples[i - 1].value)) {
      ++changes;
    }
    constant = constant && std::bit_cast<uint64_t>(samples[i].value) == first_bits;
  }
  ValueMode mode = kValuesConstant;
  if (constant) {
    // A decimal constant as its exponent and integer (a few bytes), anything else raw.
    int64_t correction = 0;
    const int e = min_decimal_exponent(samples[0].value, false, &correction);
    int64_t m = 0;
    if (e >= 0 && correction == 0 && to_decimal(samples[0].value, e, false, &m, &correction)) {
      s.packed.push_back(static_cast<char>(e));
      put_varint(zigzag(m), &s.packed);
    } else {
      s.packed.push_back(static_cast<char>(kConstantRaw));
      put_u64_le(first_bits, &s.packed);
    }
  } else {
    const DecimalChoice decimal = choose_decimal(samples, changes, &s.exponents);
    s.exceptions.clear();
    s.corrections.resize(n);
    bool corrected = false;
    int64_t previous = 0;
    for (size_t i = 0; i < n; ++i) {
      int64_t m = 0;
      int64_t c = 0;
      if (s.exponents[i] >= 0 && s.exponents[i] <= decimal.exponent &&
          to_decimal(samples[i].value, decimal.exponent, decimal.multiply, &m, &c)) {
        previous = m;
      } else {
        s.exceptions.push_back(static_cast<uint32_t>(i));
        c = 0;
      }
      s.ints[i] = previous;  // an exception repeats its predecessor, so differences stay small
      s.corrections[i] = c;
      corrected = corrected || c != 0;
    }
    if (s.exceptions.size() * kExceptionShareMaxDenominator <= n) {
      mode = kValuesDecimal;
      s.packed.push_back(static_cast<char>(decimal.exponent |
                                           (decimal.multiply ? kExponentMultiply : 0) |
                                           (corrected ? kExponentCorrected : 0)));
      encode_int_column(s.ints.data(), n, &s.columns, &s.packed, &low);
      if (corrected) encode_int_column(s.corrections.data(), n, &s.columns, &s.packed, &low);
      put_varint(s.exceptions.size(), &s.packed);
      uint32_t last = 0;
      for (uint32_t pos : s.exceptions) {
        put_varint(pos - last, &s.packed);
        last = pos;
        put_u64_le(std::bit_cast<uint64_t>(samples[pos].value), &s.packed);
      }
    } else {
      // Not decimal: the float bits as ordered integers through the integer pipeline (small
      // steps of a smooth float become small integers), or Gorilla XOR, whichever is smaller.
      const size_t packed_before = s.packed.size();
      const size_t raw_before = s.raw.size();
      const LowBitWriter low_before = low;
      for (size_t i = 0; i < n; ++i) s.ints[i] = ordered_bits(samples[i].value);
      encode_int_column(s.ints.data(), n, &s.columns, &s.packed, &low);
      const size_t bits_bytes = s.packed.size() - packed_before + s.raw.size() - raw_before;
      s.xor_stream.clear();
      BitWriter writer(&s.xor_stream);
      XorValueEncoder xor_values;
      for (size_t i = 0; i < n; ++i) {
        xor_values.append(std::bit_cast<uint64_t>(samples[i].value), i == 0, &writer);
      }
      mode = kValuesBits;
      if (s.xor_stream.size() < bits_bytes) {
        mode = kValuesXor;
        s.packed.resize(packed_before);
        s.raw.resize(raw_before);
        low = low_before;
      }
    }
  }
  low.flush();
  if (mode == kValuesXor) s.raw.append(s.xor_stream);

  s.compressed.resize(ZSTD_compressBound(s.packed.size()));
  ZSTD_CCtx_reset(s.cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_compressionLevel, zstd_level_);
  const size_t compressed = ZSTD_compress2(s.cctx, s.compressed.data(), s.compressed.size(),
                                           s.packed.data(), s.packed.size());
  MELD_ASSERT(!ZSTD_isError(compressed), ZSTD_getErrorName(compressed));
  const bool use_zstd = compressed < s.packed.size();
  const std::string_view stored =
      use_zstd ? std::string_view(s.compressed.data(), compressed) : std::string_view(s.packed);

  MELD_ASSERT(s.packed.size() <= kBlockPackedBytesMax, "packed section above the decoder's cap");
  const size_t out_before = out->size();
  out->push_back(static_cast<char>((kFormatVersion << 4) | (use_zstd ? kFlagZstd : 0) | mode));
  put_varint(n, out);
  put_varint(stored.size(), out);
  out->append(stored);
  out->append(s.raw);
  MELD_ASSERT(out->size() - out_before <= kBlockBytesMax, "block above the decoder's cap");
  return Status::ok();
}

struct BlockDecoder::Scratch {
  ZSTD_DCtx* dctx = nullptr;
  std::string packed;
  std::string raw;  // the raw section plus kRawPaddingBytes zeros
  std::vector<int64_t> timestamps;
  std::vector<int64_t> ints;
};

BlockDecoder::BlockDecoder() : scratch_(new Scratch) {
  scratch_->dctx = ZSTD_createDCtx();
  MELD_ASSERT(scratch_->dctx != nullptr, "ZSTD_createDCtx failed");
}

BlockDecoder::~BlockDecoder() {
  ZSTD_freeDCtx(scratch_->dctx);
}

Status BlockDecoder::decode(std::string_view block, std::vector<Sample>* samples) {
  if (block.size() > kBlockBytesMax) return corrupt("larger than the cap");
  Scratch& s = *scratch_;
  ByteReader header(block);
  uint8_t flags = 0;
  uint64_t n = 0;
  uint64_t stored_size = 0;
  if (!header.byte(&flags) || (flags >> 4) != kFormatVersion || (flags & 0x8) != 0) {
    return corrupt("unknown format version");
  }
  const auto mode = static_cast<ValueMode>(flags & 0x3);
  if (!header.varint(&n) || n == 0 || n > kBlockSamplesMax) return corrupt("bad sample count");
  if (!header.varint(&stored_size) || stored_size > header.remaining()) {
    return corrupt("truncated packed section");
  }
  const auto* stored = reinterpret_cast<const char*>(header.position());
  std::string_view packed_bytes(stored, stored_size);
  if ((flags & kFlagZstd) != 0) {
    const unsigned long long content = ZSTD_getFrameContentSize(stored, stored_size);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content > kBlockPackedBytesMax) {
      return corrupt("bad zstd frame header");
    }
    s.packed.resize(content);
    const size_t got =
        ZSTD_decompressDCtx(s.dctx, s.packed.data(), s.packed.size(), stored, stored_size);
    if (ZSTD_isError(got) || got != content) return corrupt("bad zstd frame");
    packed_bytes = s.packed;
  } else if (stored_size > kBlockPackedBytesMax) {
    return corrupt("packed section above the cap");
  }
  header.skip(stored_size);
  const size_t raw_size = header.remaining();
  s.raw.assign(reinterpret_cast<const char*>(header.position()), raw_size);
  s.raw.append(kRawPaddingBytes, '\0');
  const auto* raw = reinterpret_cast<const uint8_t*>(s.raw.data());
  LowBitReader low(raw, raw_size);
  ByteReader in(packed_bytes);

  s.timestamps.resize(n);
  s.ints.resize(n);
  MELD_RETURN_IF_ERROR(decode_int_column(&in, &low, n, s.timestamps.data()));
  samples->resize(n);
  Sample* out = samples->data();
  const int64_t* ts = s.timestamps.data();
  out[0].timestamp_ms = ts[0];
  for (size_t i = 1; i < n; ++i) {
    if (ts[i] <= ts[i - 1]) return corrupt("timestamps not increasing");
    out[i].timestamp_ms = ts[i];
  }

  if (mode == kValuesConstant) {
    uint8_t exponent = 0;
    uint64_t bits = 0;
    if (!in.byte(&exponent)) return corrupt("truncated constant value");
    if (exponent == kConstantRaw) {
      if (!in.u64_le(&bits)) return corrupt("truncated constant value");
    } else if (exponent <= kDecimalExponentMax) {
      uint64_t z = 0;
      if (!in.varint(&z)) return corrupt("truncated constant value");
      bits = std::bit_cast<uint64_t>(decimal_value(unzigzag(z), exponent, false));
    } else {
      return corrupt("bad constant exponent");
    }
    const double v = std::bit_cast<double>(bits);
    for (size_t i = 0; i < n; ++i) out[i].value = v;
  } else if (mode == kValuesDecimal) {
    uint8_t exponent = 0;
    if (!in.byte(&exponent) || (exponent & kExponentMask) > kDecimalExponentMax) {
      return corrupt("bad exponent");
    }
    const int e = exponent & kExponentMask;
    MELD_RETURN_IF_ERROR(decode_int_column(&in, &low, n, s.ints.data()));
    const int64_t* m = s.ints.data();
    if (e == 0) {
      for (size_t i = 0; i < n; ++i) out[i].value = static_cast<double>(m[i]);
    } else if ((exponent & kExponentMultiply) != 0) {
      const double scale = kInversePow10[e];
      for (size_t i = 0; i < n; ++i) out[i].value = static_cast<double>(m[i]) * scale;
    } else {
      const double scale = kPow10[e];
      for (size_t i = 0; i < n; ++i) out[i].value = static_cast<double>(m[i]) / scale;
    }
    if ((exponent & kExponentCorrected) != 0) {
      MELD_RETURN_IF_ERROR(decode_int_column(&in, &low, n, s.ints.data()));
      for (size_t i = 0; i < n; ++i) {
        const auto bits =
            static_cast<uint64_t>(ordered_bits(out[i].value)) + static_cast<uint64_t>(s.ints[i]);
        out[i].value = from_ordered_bits(static_cast<int64_t>(bits));
      }
    }
    uint64_t exceptions = 0;
    if (!in.varint(&exceptions) || exceptions > n) return corrupt("bad exception count");
    uint64_t pos = 0;
    for (uint64_t e = 0; e < exceptions; ++e) {
      uint64_t step = 0;
      uint64_t bits = 0;
      if (!in.varint(&step) || !in.u64_le(&bits)) return corrupt("truncated exceptions");
      if ((e > 0 && step == 0) || step >= n - pos) return corrupt("bad exception position");
      pos += step;
      out[pos].value = std::bit_cast<double>(bits);
    }
  } else if (mode == kValuesBits) {
    MELD_RETURN_IF_ERROR(decode_int_column(&in, &low, n, s.ints.data()));
    for (size_t i = 0; i < n; ++i) out[i].value = from_ordered_bits(s.ints[i]);
  }
  if (in.remaining() != 0) return corrupt("trailing bytes in packed section");

  const size_t low_bytes = (low.position_bits() + 7) / 8;
  if (mode == kValuesXor) {
    BitReader reader(raw + low_bytes, raw_size - low_bytes);
    XorValueDecoder xor_values;
    for (size_t i = 0; i < n; ++i) {
      uint64_t bits = 0;
      if (!xor_values.next(i == 0, &reader, &bits)) return corrupt("malformed xor values");
      out[i].value = std::bit_cast<double>(bits);
    }
    if (reader.remaining_bits() >= 8) return corrupt("trailing bytes in raw section");
  } else if (low_bytes != raw_size) {
    return corrupt("trailing bytes in raw section");
  }
  return Status::ok();
}

}  // namespace meld::ts
