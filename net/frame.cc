#include "net/frame.h"

#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace meld::net {
namespace {

// A buffer grown past this for one big frame is dropped after it, so an idle connection holds
// little memory.
constexpr size_t kRetainWords = 8 * 1024;
// Smallest allocation, so a stream of small frames does not reallocate per frame.
constexpr size_t kInitialWords = 512;
// Tiny frames still need a few words of traversal for the root pointer and the union.
constexpr uint64_t kMinTraversalWords = 256;

constexpr size_t kWordBytes = sizeof(capnp::word);

// Reads are lazy in Cap'n Proto: walk everything now, so that a malformed frame fails here and
// not in some handler. totalSize() follows every pointer; Text fields also need their NUL
// terminator checked, which only a get does.
void validate(wire::Envelope::Reader root) {
  root.totalSize();
  auto body = root.getBody();
  switch (body.which()) {
    case wire::Envelope::Body::HELLO:
      body.getHello().getAdvertise();
      break;
    case wire::Envelope::Body::HELLO_ACK:
      body.getHelloAck().getReason();
      break;
    case wire::Envelope::Body::PING:
      body.getPing().getPayload();
      break;
    case wire::Envelope::Body::PONG:
      body.getPong().getPayload();
      break;
  }
}

}  // namespace

kj::Array<capnp::word> encode_frame(capnp::MessageBuilder& message) {
  return capnp::messageToFlatArray(message);
}

FrameDecoder::FrameDecoder(FrameLimits limits) : limits_(limits) {
  MELD_ASSERT(limits_.max_frame_bytes >= kWordBytes, "max_frame_bytes below one word");
  MELD_ASSERT(limits_.traversal_limit_per_frame_word >= 1, "traversal limit below one frame");
}

Status FrameDecoder::feed(const char* data, size_t n, const MessageFn& on_message) {
  if (!error_.is_ok()) return error_;
  const size_t max_words = limits_.max_frame_bytes / kWordBytes;
  for (;;) {
    // The prefix first yields the segment table's size, then (once the table is buffered) the
    // whole frame's size; both are checked before a single byte more is buffered.
    size_t filled_words = filled_bytes_ / kWordBytes;
    size_t need_words =
        capnp::expectedSizeInWordsFromPrefix(kj::arrayPtr(buffer_.begin(), filled_words));
    if (need_words > max_words) {
      error_ =
          Status::resource_exhausted("frame claims " + std::to_string(need_words * kWordBytes) +
                                     " bytes, limit " + std::to_string(limits_.max_frame_bytes));
      return error_;
    }
    // need_words is final only when the prefix held the whole segment table, which is always
    // the case when the prefix is as long as what it claims.
    if (filled_bytes_ == need_words * kWordBytes) {
      Status s = deliver(need_words, on_message);
      filled_bytes_ = 0;
      if (buffer_.size() > kRetainWords) buffer_ = nullptr;
      if (!s.is_ok()) {
        error_ = s;
        return error_;
      }
      continue;
    }
    if (n == 0) return Status::ok();
    reserve_words(need_words);
    size_t take = std::min(n, need_words * kWordBytes - filled_bytes_);
    std::memcpy(reinterpret_cast<char*>(buffer_.begin()) + filled_bytes_, data, take);
    filled_bytes_ += take;
    data += take;
    n -= take;
  }
}

void FrameDecoder::reserve_words(size_t words) {
  if (buffer_.size() >= words) return;
  // words <= max_frame_bytes / kWordBytes: feed() checked it.
  size_t capacity = std::min(std::max({words, kInitialWords, buffer_.size() * 2}),
                             limits_.max_frame_bytes / kWordBytes);
  auto grown = kj::heapArray<capnp::word>(capacity);
  if (filled_bytes_ > 0) std::memcpy(grown.begin(), buffer_.begin(), filled_bytes_);
  buffer_ = kj::mv(grown);
}

Status FrameDecoder::deliver(size_t frame_words, const MessageFn& on_message) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords =
      std::max<uint64_t>(kMinTraversalWords, frame_words * limits_.traversal_limit_per_frame_word);
  options.nestingLimit = limits_.nesting_limit;
  // The reader must outlive the callback, but only parsing and validation may be caught here:
  // an exception thrown by the callback is not a malformed frame.
  std::optional<capnp::FlatArrayMessageReader> reader;
  wire::Envelope::Reader root;
  try {
    reader.emplace(kj::arrayPtr(buffer_.begin(), frame_words), options);
    root = reader->getRoot<wire::Envelope>();
    validate(root);
  } catch (const kj::Exception& e) {
    return Status::corruption("malformed frame: " + std::string(e.getDescription().cStr()));
  }
  return on_message(root);
}

}  // namespace meld::net
