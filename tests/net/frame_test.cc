#include <capnp/message.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/rng.h"
#include "net/frame.h"

namespace meld::net {
namespace {

std::string ping_frame(uint64_t sequence, size_t payload_bytes) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Envelope>();
  root.setSender(7);
  auto ping = root.getBody().initPing();
  ping.setSequence(sequence);
  auto payload = ping.initPayload(payload_bytes);
  for (size_t i = 0; i < payload_bytes; ++i) payload[i] = static_cast<kj::byte>(sequence + i);
  auto frame = encode_frame(message);
  return std::string(reinterpret_cast<const char*>(frame.asBytes().begin()),
                     frame.asBytes().size());
}

// Collects the sequence numbers of the Ping frames it is given.
struct Collector {
  std::vector<uint64_t> sequences;
  FrameDecoder::MessageFn fn() {
    return [this](wire::Envelope::Reader msg) {
      sequences.push_back(msg.getBody().getPing().getSequence());
      return Status::ok();
    };
  }
};

std::vector<uint64_t> iota_sequences(size_t n) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(FrameDecoder, RoundTripsOneMessage) {
  FrameDecoder decoder(FrameLimits{});
  std::string frame = ping_frame(42, 100);
  bool called = false;
  Status s = decoder.feed(frame.data(), frame.size(), [&](wire::Envelope::Reader msg) {
    called = true;
    EXPECT_EQ(msg.getSender(), 7u);
    EXPECT_EQ(msg.getBody().getPing().getSequence(), 42u);
    auto payload = msg.getBody().getPing().getPayload();
    EXPECT_EQ(payload.size(), 100u);
    EXPECT_EQ(payload[99], static_cast<kj::byte>(42 + 99));
    return Status::ok();
  });
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_TRUE(called);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, DeliversManyMessagesFedByteByByte) {
  std::string stream;
  for (uint64_t i = 0; i < 50; ++i) stream += ping_frame(i, i * 3);
  FrameDecoder decoder(FrameLimits{});
  Collector collector;
  auto fn = collector.fn();
  for (char byte : stream) ASSERT_TRUE(decoder.feed(&byte, 1, fn).is_ok());
  EXPECT_EQ(collector.sequences, iota_sequences(50));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, DeliversManyMessagesFedInRandomChunks) {
  SeededRng rng(1234);
  std::string stream;
  for (uint64_t i = 0; i < 500; ++i) stream += ping_frame(i, rng.uniform(20000));
  FrameDecoder decoder(FrameLimits{});
  Collector collector;
  auto fn = collector.fn();
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t n = std::min<size_t>(stream.size() - pos, rng.between(1, 70000));
    ASSERT_TRUE(decoder.feed(stream.data() + pos, n, fn).is_ok());
    pos += n;
  }
  EXPECT_EQ(collector.sequences, iota_sequences(500));
}

TEST(FrameDecoder, RejectsAFrameClaimingMoreThanTheMaximumBeforeBufferingIt) {
  FrameDecoder decoder(FrameLimits{.max_frame_bytes = 1 << 20});
  // Segment table: one segment of 0x7fffffff words (16 GiB), then the first bytes of its body.
  const uint32_t header[4] = {0, 0x7fffffff, 0, 0};
  Collector collector;
  Status s = decoder.feed(reinterpret_cast<const char*>(header), sizeof header, collector.fn());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  EXPECT_LE(decoder.buffered_bytes(), 8u);
  EXPECT_TRUE(collector.sequences.empty());
}

TEST(FrameDecoder, RejectsASegmentTableLargerThanTheMaximum) {
  FrameDecoder decoder(FrameLimits{.max_frame_bytes = 1 << 20});
  const uint32_t header[2] = {0xfffffffe, 1};  // 2^32 - 1 segments
  Status s = decoder.feed(reinterpret_cast<const char*>(header), sizeof header, Collector().fn());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
}

TEST(FrameDecoder, RejectsGarbageWithCorruptionAndStaysPoisoned) {
  FrameDecoder decoder(FrameLimits{});
  // A plausible segment table (one segment of 4 words) followed by a garbage root pointer.
  const uint32_t frame[10] = {0, 4, 0xdeadbeef, 0xffffffff, 1, 2, 3, 4, 5, 6};
  Collector collector;
  Status s = decoder.feed(reinterpret_cast<const char*>(frame), sizeof frame, collector.fn());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  std::string good = ping_frame(1, 0);
  EXPECT_EQ(decoder.feed(good.data(), good.size(), collector.fn()), s);
  EXPECT_TRUE(collector.sequences.empty());
}

TEST(FrameDecoder, RejectsTextWithoutItsTerminatorBeforeTheHandlerSeesIt) {
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().getBody().initHello().setAdvertise("abcdefg");
  auto words = encode_frame(message);
  std::string frame(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
  size_t at = frame.find("abcdefg");
  ASSERT_NE(at, std::string::npos);
  frame[at + 7] = 'h';  // overwrite the NUL terminator
  FrameDecoder decoder(FrameLimits{});
  bool called = false;
  Status s = decoder.feed(frame.data(), frame.size(), [&](wire::Envelope::Reader) {
    called = true;
    return Status::ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  EXPECT_FALSE(called);
}

TEST(FrameDecoder, ACallbackErrorStopsDecodingAndIsReturned) {
  std::string stream = ping_frame(1, 0) + ping_frame(2, 0);
  FrameDecoder decoder(FrameLimits{});
  int calls = 0;
  Status s = decoder.feed(stream.data(), stream.size(), [&](wire::Envelope::Reader) {
    ++calls;
    return Status::aborted("stop");
  });
  EXPECT_EQ(s, Status::aborted("stop"));
  EXPECT_EQ(calls, 1);
}

TEST(FrameDecoder, RandomGarbageBuffersYieldErrorsNeverCrashes) {
  SeededRng rng(99);
  int errors = 0;
  int delivered = 0;
  constexpr int kBuffers = 10000;
  for (int i = 0; i < kBuffers; ++i) {
    FrameDecoder decoder(FrameLimits{.max_frame_bytes = 4096});
    std::string garbage(rng.between(1, 512), '\0');
    for (char& c : garbage) c = static_cast<char>(rng.next_u64());
    // Every field read must be safe on whatever the decoder accepted.
    Status s = decoder.feed(garbage.data(), garbage.size(), [&](wire::Envelope::Reader msg) {
      ++delivered;
      auto body = msg.getBody();
      if (body.isHello()) body.getHello().getAdvertise().size();
      if (body.isPing()) body.getPing().getPayload().size();
      return Status::ok();
    });
    if (s.is_ok()) {
      EXPECT_LE(decoder.buffered_bytes(), 4096u);  // an incomplete frame, within the bound
    } else {
      ++errors;
      EXPECT_TRUE(s.code() == StatusCode::kCorruption || s.code() == StatusCode::kResourceExhausted)
          << s.to_string();
    }
  }
  // Random segment tables nearly always claim too much or point out of bounds.
  EXPECT_GT(errors, kBuffers * 9 / 10);
  RecordProperty("delivered", delivered);
}

}  // namespace
}  // namespace meld::net
