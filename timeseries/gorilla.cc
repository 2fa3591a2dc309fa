#include "timeseries/gorilla.h"

#include <bit>
#include <cstring>

namespace meld::ts {
namespace {

constexpr size_t kHeaderBytes = 2;

// True if v fits in a two's-complement field of `bits` bits.
bool fits_signed(int64_t v, int bits) {
  const int64_t half = int64_t{1} << (bits - 1);
  return v >= -half && v < half;
}

// Sign-extends the low `bits` bits of v.
int64_t sign_extend(uint64_t v, int bits) {
  const int shift = 64 - bits;
  return static_cast<int64_t>(v << shift) >> shift;
}

struct DodBucket {
  uint64_t prefix;
  int prefix_bits;
  int value_bits;
};
// '10', '110', '1110', '11110' prefixes; '11111' escapes to 64 bits.
constexpr DodBucket kDodBuckets[] = {
    {0b10, 2, 7}, {0b110, 3, 9}, {0b1110, 4, 12}, {0b11110, 5, 32}};

void write_dod(int64_t dod, BitWriter* out) {
  if (dod == 0) {
    out->write_bit(false);
    return;
  }
  for (const DodBucket& b : kDodBuckets) {
    if (fits_signed(dod, b.value_bits)) {
      out->write(b.prefix, b.prefix_bits);
      out->write(static_cast<uint64_t>(dod), b.value_bits);
      return;
    }
  }
  out->write(0b11111, 5);
  out->write(static_cast<uint64_t>(dod), 64);
}

bool read_dod(BitReader* in, int64_t* dod) {
  // Count leading one bits (at most 5) to find the bucket.
  int ones = 0;
  for (; ones < 5; ++ones) {
    bool bit = false;
    if (!in->read_bit(&bit)) return false;
    if (!bit) break;
  }
  if (ones == 0) {
    *dod = 0;
    return true;
  }
  const int value_bits = ones == 5 ? 64 : kDodBuckets[ones - 1].value_bits;
  uint64_t raw = 0;
  if (!in->read(value_bits, &raw)) return false;
  *dod = value_bits == 64 ? static_cast<int64_t>(raw) : sign_extend(raw, value_bits);
  return true;
}

}  // namespace

void XorValueEncoder::append(uint64_t bits, bool first, BitWriter* out) {
  if (first) {
    out->write(bits, 64);
    prev_bits_ = bits;
    return;
  }
  const uint64_t x = bits ^ prev_bits_;
  prev_bits_ = bits;
  if (x == 0) {
    out->write_bit(false);
    return;
  }
  const int leading = std::min(std::countl_zero(x), 31);
  const int trailing = std::countr_zero(x);
  if (prev_leading_ >= 0 && leading >= prev_leading_ && trailing >= prev_trailing_) {
    out->write(0b10, 2);
    out->write(x >> prev_trailing_, 64 - prev_leading_ - prev_trailing_);
    return;
  }
  const int length = 64 - leading - trailing;
  out->write(0b11, 2);
  out->write(static_cast<uint64_t>(leading), 5);
  out->write(static_cast<uint64_t>(length & 63), 6);
  out->write(x >> trailing, length);
  prev_leading_ = leading;
  prev_trailing_ = trailing;
}

bool XorValueDecoder::next(bool first, BitReader* in, uint64_t* bits) {
  if (first) {
    if (!in->read(64, &prev_bits_)) return false;
    *bits = prev_bits_;
    return true;
  }
  bool changed = false;
  if (!in->read_bit(&changed)) return false;
  if (!changed) {
    *bits = prev_bits_;
    return true;
  }
  bool new_window = false;
  if (!in->read_bit(&new_window)) return false;
  if (new_window) {
    uint64_t leading = 0;
    uint64_t length = 0;
    if (!in->read(5, &leading) || !in->read(6, &length)) return false;
    if (length == 0) length = 64;
    if (leading + length > 64) return false;
    prev_leading_ = static_cast<int>(leading);
    prev_trailing_ = static_cast<int>(64 - leading - length);
  } else if (prev_leading_ < 0) {
    return false;  // a window reuse before any window was set
  }
  const int length = 64 - prev_leading_ - prev_trailing_;
  uint64_t meaningful = 0;
  if (!in->read(length, &meaningful)) return false;
  prev_bits_ ^= meaningful << prev_trailing_;
  *bits = prev_bits_;
  return true;
}

GorillaChunk::GorillaChunk(ChunkLimits limits) : limits_(limits), bytes_(kHeaderBytes, '\0') {
  MELD_ASSERT(limits.samples_max >= 1 && limits.samples_max <= kChunkSamplesMax,
              "chunk samples_max out of range");
  MELD_ASSERT(limits.bytes_max >= kChunkSampleBytesWorst + kHeaderBytes &&
                  limits.bytes_max <= kChunkBytesMax,
              "chunk bytes_max out of range");
}

bool GorillaChunk::has_room() const {
  return count_ < limits_.samples_max &&
         bytes_.size() + kChunkSampleBytesWorst <= limits_.bytes_max;
}

Status GorillaChunk::append(const Sample& sample) {
  if (count_ > 0 && sample.timestamp_ms <= last_timestamp_ms_) {
    return Status::invalid_argument("chunk append: timestamp " +
                                    std::to_string(sample.timestamp_ms) + " not after " +
                                    std::to_string(last_timestamp_ms_));
  }
  if (!has_room()) return Status::resource_exhausted("chunk full");
  BitWriter writer(&bytes_, free_bits_);
  const auto ts = static_cast<uint64_t>(sample.timestamp_ms);
  if (count_ == 0) {
    writer.write(ts, 64);
  } else {
    const uint64_t delta = ts - static_cast<uint64_t>(last_timestamp_ms_);
    write_dod(static_cast<int64_t>(delta - last_delta_), &writer);
    last_delta_ = delta;
  }
  values_.append(std::bit_cast<uint64_t>(sample.value), count_ == 0, &writer);
  free_bits_ = writer.free_bits();
  last_timestamp_ms_ = sample.timestamp_ms;
  ++count_;
  bytes_[0] = static_cast<char>(count_ & 0xff);
  bytes_[1] = static_cast<char>(count_ >> 8);
  return Status::ok();
}

Result<GorillaIterator> GorillaIterator::open(std::string_view chunk) {
  if (chunk.size() < kHeaderBytes) return Status::corruption("chunk: shorter than its header");
  if (chunk.size() > kChunkBytesMax) return Status::corruption("chunk: larger than the cap");
  const auto* p = reinterpret_cast<const uint8_t*>(chunk.data());
  const uint32_t count = p[0] | (uint32_t{p[1]} << 8);
  if (count > kChunkSamplesMax) return Status::corruption("chunk: sample count above the cap");
  if (count == 0 && chunk.size() > kHeaderBytes) return Status::corruption("chunk: trailing bytes");
  return GorillaIterator(chunk, count);
}

GorillaIterator::GorillaIterator(std::string_view chunk, uint32_t count)
    : reader_(reinterpret_cast<const uint8_t*>(chunk.data()) + kHeaderBytes,
              chunk.size() - kHeaderBytes),
      count_(count) {}

bool GorillaIterator::fail(std::string message) {
  status_ =
      Status::corruption("chunk: " + std::move(message) + " at sample " + std::to_string(index_));
  index_ = count_;
  return false;
}

bool GorillaIterator::next(Sample* sample) {
  if (index_ >= count_) return false;
  uint64_t ts = 0;
  if (index_ == 0) {
    if (!reader_.read(64, &ts)) return fail("truncated timestamp");
  } else {
    int64_t dod = 0;
    if (!read_dod(&reader_, &dod)) return fail("truncated timestamp");
    last_delta_ += static_cast<uint64_t>(dod);
    ts = static_cast<uint64_t>(last_timestamp_ms_) + last_delta_;
    if (static_cast<int64_t>(ts) <= last_timestamp_ms_) return fail("timestamps not increasing");
  }
  uint64_t bits = 0;
  if (!values_.next(index_ == 0, &reader_, &bits)) return fail("malformed value");
  last_timestamp_ms_ = static_cast<int64_t>(ts);
  sample->timestamp_ms = last_timestamp_ms_;
  sample->value = std::bit_cast<double>(bits);
  ++index_;
  if (index_ == count_ && reader_.remaining_bits() >= 8) return fail("trailing bytes");
  return true;
}

Status decode_chunk(std::string_view chunk, std::vector<Sample>* samples) {
  samples->clear();
  Result<GorillaIterator> it = GorillaIterator::open(chunk);
  if (!it.is_ok()) return it.status();
  samples->reserve(it->sample_count());
  Sample s;
  while (it->next(&s)) samples->push_back(s);
  return it->status();
}

}  // namespace meld::ts
