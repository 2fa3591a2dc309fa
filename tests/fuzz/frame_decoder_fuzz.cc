// libFuzzer target for net::FrameDecoder: any byte stream, split at a point the input chooses,
// must end in delivered frames, an incomplete frame within the bound, or an error status; never
// a crash, a sanitizer report or an escaping exception.
#include <cstddef>
#include <cstdint>

#include "base/assert.h"
#include "net/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  constexpr size_t kMaxFrameBytes = 64 * 1024;
  meld::net::FrameDecoder decoder(meld::net::FrameLimits{.max_frame_bytes = kMaxFrameBytes});
  // Reads what a handler would, so lazily checked fields are exercised too.
  auto on_message = [](meld::wire::Envelope::Reader msg) {
    auto body = msg.getBody();
    if (body.isHello()) body.getHello().getAdvertise().size();
    if (body.isHelloAck()) body.getHelloAck().getReason().size();
    if (body.isPing()) body.getPing().getPayload().size();
    if (body.isPong()) body.getPong().getPayload().size();
    return meld::Status::ok();
  };
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  size_t n = size - 1;
  size_t split = n == 0 ? 0 : data[0] % (n + 1);
  meld::Status s = decoder.feed(bytes, split, on_message);
  if (s.is_ok()) s = decoder.feed(bytes + split, n - split, on_message);
  MELD_ASSERT(decoder.buffered_bytes() <= kMaxFrameBytes, "decoder buffered past its bound");
  return 0;
}
