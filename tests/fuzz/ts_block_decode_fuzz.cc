// libFuzzer target for the time-series decoders: the first byte picks the sealed-block decoder
// (even) or the Gorilla chunk decoder (odd); the rest is the encoded input. Any input must end in
// an error status or in samples within the caps with increasing timestamps, which then survive
// an encode/decode round trip bit for bit; never a crash, a sanitizer report or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "timeseries/gorilla.h"
#include "timeseries/sealed_block.h"

namespace {

void check_samples(const std::vector<meld::ts::Sample>& samples, size_t cap) {
  MELD_ASSERT(samples.size() <= cap, "decoder returned more samples than its cap");
  for (size_t i = 1; i < samples.size(); ++i) {
    MELD_ASSERT(samples[i].timestamp_ms > samples[i - 1].timestamp_ms,
                "decoder returned timestamps that do not increase");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<meld::ts::Sample> samples;
  std::vector<meld::ts::Sample> again;
  if (data[0] % 2 == 0) {
    static meld::ts::BlockDecoder decoder;
    static meld::ts::BlockEncoder encoder;
    if (!decoder.decode(input, &samples).is_ok()) return 0;
    check_samples(samples, meld::ts::kBlockSamplesMax);
    std::string block;
    MELD_ASSERT(encoder.encode(samples, &block).is_ok(), "decoded samples do not re-encode");
    MELD_ASSERT(decoder.decode(block, &again).is_ok(), "re-encoded block does not decode");
  } else {
    if (!meld::ts::decode_chunk(input, &samples).is_ok()) return 0;
    check_samples(samples, meld::ts::kChunkSamplesMax);
    meld::ts::GorillaChunk chunk(meld::ts::ChunkLimits{.samples_max = meld::ts::kChunkSamplesMax,
                                                       .bytes_max = meld::ts::kChunkBytesMax});
    for (const meld::ts::Sample& s : samples) {
      if (!chunk.has_room()) break;
      MELD_ASSERT(chunk.append(s).is_ok(), "decoded samples do not re-append");
    }
    MELD_ASSERT(meld::ts::decode_chunk(chunk.bytes(), &again).is_ok(), "re-encoded chunk fails");
    samples.resize(again.size());
  }
  MELD_ASSERT(samples.size() == again.size(), "round trip changed the sample count");
  for (size_t i = 0; i < samples.size(); ++i) {
    MELD_ASSERT(meld::ts::identical(samples[i], again[i]), "round trip changed a sample");
  }
  return 0;
}
