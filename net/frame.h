// Framing of node-to-node messages on a byte stream. A frame is one plain Cap'n Proto message
// (segment table + segments, as written by capnp::messageToFlatArray) whose root is a
// wire::Envelope. The decoder is pure (no I/O, no libuv) so it can be fuzzed on its own.
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include <kj/array.h>

#include "base/status.h"
#include "schemas/wire.capnp.h"

namespace meld::net {

struct FrameLimits {
  // Largest frame accepted, segment table included. A prefix claiming more is refused before
  // anything beyond the segment table is buffered.
  size_t max_frame_bytes = 16 << 20;
  // Cap'n Proto traversal budget per frame, as a multiple of the frame's size: eager validation
  // spends one frame's worth, the handler gets the rest.
  uint64_t traversal_limit_per_frame_word = 4;
  int nesting_limit = 32;
};

// Serializes a message as one frame. Allocates the frame; no size check (the receiver enforces
// FrameLimits).
kj::Array<capnp::word> encode_frame(capnp::MessageBuilder& message);

// Incremental decoder for a stream of Envelope frames. Not thread-safe; one per connection.
// Memory: at most max_frame_bytes of buffered input (plus nothing between frames above 64 KiB:
// a buffer grown for one big frame is released once that frame is delivered).
class FrameDecoder {
 public:
  // Called once per complete, validated frame. The reader is valid only during the call. A
  // non-ok return stops decoding and is returned by feed(). Validation has already walked the
  // whole message and checked the Text fields of every union member known to this build, so
  // reading the envelope does not throw for malformed input; exceptions the callback itself
  // throws propagate out of feed().
  using MessageFn = std::function<Status(wire::Envelope::Reader)>;

  explicit FrameDecoder(FrameLimits limits);

  // Consumes n bytes (any split of the stream is fine: byte by byte or many frames at once) and
  // calls on_message for each frame completed by them, in stream order.
  // Errors: resource_exhausted when a frame claims more than max_frame_bytes; corruption with the
  // Cap'n Proto reason when a frame is malformed; or the callback's status. After an error the
  // decoder is poisoned: every later feed() returns the same status without reading its input.
  Status feed(const char* data, size_t n, const MessageFn& on_message);

  // Bytes of an incomplete frame held right now (<= max_frame_bytes).
  size_t buffered_bytes() const { return filled_bytes_; }

 private:
  Status deliver(size_t frame_words, const MessageFn& on_message);
  void reserve_words(size_t words);

  FrameLimits limits_;
  kj::Array<capnp::word> buffer_;
  size_t filled_bytes_ = 0;
  Status error_;
};

}  // namespace meld::net
