#include <arpa/inet.h>
#include <capnp/message.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "net/frame.h"
#include "net/transport.h"

namespace meld::net {
namespace {

constexpr uint64_t kCluster = 7;

std::string to_string(const kj::Array<capnp::word>& frame) {
  return std::string(reinterpret_cast<const char*>(frame.asBytes().begin()),
                     frame.asBytes().size());
}

std::string hello_frame(uint64_t node, uint64_t cluster) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Envelope>();
  root.setProtocolVersion(wire::PROTOCOL_VERSION);
  root.setClusterId(cluster);
  root.setSender(node);
  root.getBody().initHello().setNodeId(node);
  return to_string(encode_frame(message));
}

Status send_ping(Transport& t, uint64_t node, uint64_t sequence, size_t payload_bytes = 0) {
  capnp::MallocMessageBuilder message;
  auto ping = message.initRoot<wire::Envelope>().getBody().initPing();
  ping.setSequence(sequence);
  ping.initPayload(payload_bytes);
  return t.send(node, message);
}

// Records what a transport reports and checks that Ping sequence numbers arrive in order.
struct Recorder : TransportHandler {
  void on_message(uint64_t from_node, wire::Envelope::Reader msg) override {
    uint64_t sequence = msg.getBody().getPing().getSequence();
    if (sequence != next_sequence) out_of_order++;
    next_sequence = sequence + 1;
    last_from = from_node;
    received++;
  }
  void on_peer_up(uint64_t node) override { ups++; }
  void on_peer_down(uint64_t node, const Status& why) override { downs++; }

  uint64_t next_sequence = 0;
  uint64_t last_from = 0;
  size_t received = 0;
  size_t out_of_order = 0;
  int ups = 0;
  int downs = 0;
};

// A plain POSIX socket on 127.0.0.1 standing in for a misbehaving or stalled peer. Non-blocking
// after connect, so the test thread can keep running the loop.
class RawSocket {
 public:
  explicit RawSocket(int fd) : fd_(fd) {}
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  // Connects to a listener on this machine; the kernel completes it without the loop running.
  static std::unique_ptr<RawSocket> connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return nullptr;
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    return std::make_unique<RawSocket>(fd);
  }
  // A listener that accepts only when asked to and never reads unless asked to.
  static std::unique_ptr<RawSocket> listen_small_buffers() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rcvbuf_bytes = 16 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes);
    sockaddr_in addr = loopback(0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return nullptr;
    if (::listen(fd, 4) != 0) return nullptr;
    return std::make_unique<RawSocket>(fd);
  }
  int port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }
  std::unique_ptr<RawSocket> try_accept() {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK);
    return fd < 0 ? nullptr : std::make_unique<RawSocket>(fd);
  }
  bool send_all(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads whatever has arrived; true once the other side closed or reset the connection.
  bool poll_closed() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
      } else {
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      }
    }
  }
  const std::string& received() const { return received_; }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  int fd_;
  std::string received_;
};

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    for (auto& t : transports_) t.reset();
    // Every handle must close; a live one after close() would be a leak in the transport.
    for (int i = 0; i < 2000 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; ++i) usleep(1000);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  TransportOptions options(uint64_t node, uint64_t cluster = kCluster) {
    TransportOptions o;
    o.node_id = node;
    o.cluster_id = cluster;
    o.advertise = "127.0.0.1:0";
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 100;
    return o;
  }

  Transport& make(const TransportOptions& o, Recorder* handler) {
    transports_.push_back(std::make_unique<Transport>(&loop_, o, handler, &rng_));
    return *transports_.back();
  }

  Transport& make_listening(const TransportOptions& o, Recorder* handler,
                            const std::string& address = "127.0.0.1:0") {
    Transport& t = make(o, handler);
    Status s = t.listen(address);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return t;
  }

  static std::string local(int port) { return "127.0.0.1:" + std::to_string(port); }

  // Runs the loop until done() holds or timeout_ms passes; returns done().
  bool run_until(const std::function<bool()>& done, int64_t timeout_ms = 10000) {
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 2, 2);
    uv_update_time(&loop_);
    uint64_t deadline_ms = uv_now(&loop_) + static_cast<uint64_t>(timeout_ms);
    bool ok = done();
    while (!ok && uv_now(&loop_) < deadline_ms) {
      uv_run(&loop_, UV_RUN_ONCE);
      ok = done();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return ok;
  }

  void run_for(int64_t ms) {
    run_until([] { return false; }, ms);
  }

  uv_loop_t loop_;
  SeededRng rng_{1};
  std::vector<std::unique_ptr<Transport>> transports_;
};

TEST_F(TransportTest, ExchangesOneHundredThousandMessagesInOrder) {
  Recorder ra, rb;
  Transport& a = make(options(1), &ra);
  Transport& b = make_listening(options(2), &rb);
  ASSERT_TRUE(a.add_peer(2, local(b.bound_port())).is_ok());
  ASSERT_TRUE(run_until([&] { return ra.ups == 1; }));
  constexpr uint64_t kMessages = 100000;
  for (uint64_t i = 0; i < kMessages; ++i) ASSERT_TRUE(send_ping(a, 2, i).is_ok());
  ASSERT_TRUE(run_until([&] { return rb.received == kMessages; }, 30000)) << rb.received;
  EXPECT_EQ(rb.out_of_order, 0u);
  EXPECT_EQ(rb.last_from, 1u);
  EXPECT_TRUE(run_until([&] { return a.queued_bytes(2) == 0; }));
}

TEST_F(TransportTest, QueuesFramesUntilTheHandshakeCompletes) {
  Recorder ra, rb;
  Transport& a = make(options(1), &ra);
  Transport& b = make_listening(options(2), &rb);
  ASSERT_TRUE(a.add_peer(2, local(b.bound_port())).is_ok());
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(send_ping(a, 2, i).is_ok());
  EXPECT_GT(a.queued_bytes(2), 0u);
  ASSERT_TRUE(run_until([&] { return rb.received == 10; }));
  EXPECT_EQ(rb.out_of_order, 0u);
}

TEST_F(TransportTest, SendToAnUnknownPeerIsNotFound) {
  Recorder ra;
  Transport& a = make(options(1), &ra);
  EXPECT_EQ(send_ping(a, 9, 0).code(), StatusCode::kNotFound);
  EXPECT_EQ(a.add_peer(9, "nowhere").code(), StatusCode::kInvalidArgument);
}

TEST_F(TransportTest, ReconnectsAndDeliversAfterThePeerRestartsOnTheSamePort) {
  Recorder ra, rb1, rb2;
  Transport& a = make(options(1), &ra);
  auto b1 = std::make_unique<Transport>(&loop_, options(2), &rb1, &rng_);
  ASSERT_TRUE(b1->listen("127.0.0.1:0").is_ok());
  int port = b1->bound_port();
  ASSERT_TRUE(a.add_peer(2, local(port)).is_ok());
  ASSERT_TRUE(send_ping(a, 2, 0).is_ok());
  ASSERT_TRUE(run_until([&] { return rb1.received == 1; }));

  b1.reset();  // closes the listener and every connection
  ASSERT_TRUE(run_until([&] { return ra.downs == 1; }));
  run_for(50);  // a few refused redials

  Transport& b2 = make_listening(options(2), &rb2, local(port));
  ASSERT_EQ(b2.bound_port(), port);
  ASSERT_TRUE(run_until([&] { return ra.ups == 2; }));
  rb2.next_sequence = 1;
  ASSERT_TRUE(send_ping(a, 2, 1).is_ok());
  ASSERT_TRUE(run_until([&] { return rb2.received == 1; }));
  EXPECT_EQ(rb2.out_of_order, 0u);
}

TEST_F(TransportTest, NeverBringsUpAPeerOfAnotherCluster) {
  Recorder ra, rb;
  Transport& a = make(options(1, /*cluster=*/1), &ra);
  Transport& b = make_listening(options(2, /*cluster=*/2), &rb);
  ASSERT_TRUE(a.add_peer(2, local(b.bound_port())).is_ok());
  ASSERT_TRUE(send_ping(a, 2, 0).is_ok());
  run_for(300);  // several handshakes refused, with redials in between
  EXPECT_EQ(ra.ups, 0);
  EXPECT_EQ(rb.received, 0u);
}

TEST_F(TransportTest, RefusesAHelloFromAnotherClusterWithAReason) {
  Recorder rb;
  Transport& b = make_listening(options(2), &rb);
  auto raw = RawSocket::connect_to(b.bound_port());
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(raw->send_all(hello_frame(5, /*cluster=*/999)));
  ASSERT_TRUE(run_until([&] { return raw->poll_closed(); }));

  std::vector<std::string> kinds;
  std::string reason;
  FrameDecoder decoder(FrameLimits{});
  Status s =
      decoder.feed(raw->received().data(), raw->received().size(), [&](wire::Envelope::Reader msg) {
        auto body = msg.getBody();
        kinds.push_back(body.isHello() ? "hello" : "other");
        if (body.isHelloAck()) {
          EXPECT_FALSE(body.getHelloAck().getAccepted());
          reason = body.getHelloAck().getReason();
          kinds.back() = "ack";
        }
        return Status::ok();
      });
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(kinds, (std::vector<std::string>{"hello", "ack"}));
  EXPECT_NE(reason.find("cluster id 999"), std::string::npos) << reason;
}

// Garbage, an oversized claim or a protocol violation from one connection closes that connection
// only: the established link from another transport keeps delivering.
class TransportRejectsTest : public TransportTest {
 protected:
  void expect_closed_and_others_served(const std::string& bytes) {
    Recorder ra, rb;
    TransportOptions ob = options(2);
    ob.max_frame_bytes = 64 * 1024;
    Transport& b = make_listening(ob, &rb);
    Transport& a = make(options(1), &ra);
    ASSERT_TRUE(a.add_peer(2, local(b.bound_port())).is_ok());
    ASSERT_TRUE(run_until([&] { return ra.ups == 1; }));

    auto raw = RawSocket::connect_to(b.bound_port());
    ASSERT_NE(raw, nullptr);
    ASSERT_TRUE(raw->send_all(bytes));
    EXPECT_TRUE(run_until([&] { return raw->poll_closed(); }));

    ASSERT_TRUE(send_ping(a, 2, 0).is_ok());
    ASSERT_TRUE(run_until([&] { return rb.received == 1; }));
    EXPECT_EQ(rb.last_from, 1u);
    EXPECT_EQ(ra.downs, 0);
  }
};

TEST_F(TransportRejectsTest, GarbageClosesThatConnectionOnly) {
  std::string garbage(256, '\0');
  SeededRng rng(3);
  for (char& c : garbage) c = static_cast<char>(rng.next_u64());
  garbage[0] = 0;  // one segment...
  garbage[1] = garbage[2] = garbage[3] = 0;
  garbage[4] = 8;  // ...of 8 words: complete within what is sent, so it is parsed and refused
  garbage[5] = garbage[6] = garbage[7] = 0;
  expect_closed_and_others_served(garbage);
}

TEST_F(TransportRejectsTest, AnOversizedFrameClaimClosesThatConnectionOnly) {
  const uint32_t header[2] = {0, 1 << 20};  // one segment of 8 MiB, above the 64 KiB limit
  expect_closed_and_others_served(std::string(reinterpret_cast<const char*>(header), 8));
}

TEST_F(TransportRejectsTest, AFirstFrameOtherThanHelloClosesThatConnectionOnly) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Envelope>();
  root.setProtocolVersion(wire::PROTOCOL_VERSION);
  root.setClusterId(kCluster);
  root.getBody().initPing().setSequence(0);
  expect_closed_and_others_served(to_string(encode_frame(message)));
}

TEST_F(TransportTest, ClosesAConnectionThatNeverCompletesTheHandshake) {
  Recorder rb;
  TransportOptions ob = options(2);
  ob.handshake_timeout_ms = 100;
  Transport& b = make_listening(ob, &rb);
  auto raw = RawSocket::connect_to(b.bound_port());
  ASSERT_NE(raw, nullptr);
  uv_update_time(&loop_);
  uint64_t start_ms = uv_now(&loop_);
  ASSERT_TRUE(run_until([&] { return raw->poll_closed(); }, 5000));
  EXPECT_GE(uv_now(&loop_) - start_ms, 90u);
}

TEST_F(TransportTest, BackpressureWhileTheHandshakeNeverCompletes) {
  auto silent = RawSocket::listen_small_buffers();  // never accepts, never answers
  ASSERT_NE(silent, nullptr);
  Recorder ra;
  TransportOptions oa = options(1);
  oa.max_peer_queue_bytes = 1 << 20;
  Transport& a = make(oa, &ra);
  ASSERT_TRUE(a.add_peer(2, local(silent->port())).is_ok());
  Status s;
  for (uint64_t i = 0; i < 1000 && s.is_ok(); ++i) {
    s = send_ping(a, 2, i, 16 * 1024);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  EXPECT_LE(a.queued_bytes(2), oa.max_peer_queue_bytes);
  EXPECT_GT(a.queued_bytes(2), oa.max_peer_queue_bytes - 17 * 1024);
}

TEST_F(TransportTest, BackpressureCountsWritesInFlightToAPeerThatStoppedReading) {
  auto listener = RawSocket::listen_small_buffers();
  ASSERT_NE(listener, nullptr);
  Recorder ra;
  TransportOptions oa = options(1);
  oa.max_peer_queue_bytes = 1 << 20;
  Transport& a = make(oa, &ra);
  ASSERT_TRUE(a.add_peer(2, local(listener->port())).is_ok());
  std::unique_ptr<RawSocket> stalled;
  ASSERT_TRUE(run_until([&] { return (stalled = listener->try_accept()) != nullptr; }));
  ASSERT_TRUE(stalled->send_all(hello_frame(2, kCluster)));  // completes the handshake...
  ASSERT_TRUE(run_until([&] { return ra.ups == 1; }));       // ...then never reads again

  Status s;
  for (uint64_t i = 0; i < 20000 && s.is_ok(); ++i) {
    s = send_ping(a, 2, i, 16 * 1024);
    if (i % 16 == 0) uv_run(&loop_, UV_RUN_NOWAIT);
    ASSERT_LE(a.queued_bytes(2), oa.max_peer_queue_bytes);
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  EXPECT_GT(a.queued_bytes(2), oa.max_peer_queue_bytes - 17 * 1024);

  // Once the peer reads again, completed writes release their bytes.
  ASSERT_TRUE(run_until([&] {
    stalled->poll_closed();
    return a.queued_bytes(2) == 0;
  }));
  EXPECT_EQ(ra.downs, 0);
}

TEST_F(TransportTest, CloseIsIdempotentAndRefusesFurtherUse) {
  Recorder ra, rb;
  Transport& a = make(options(1), &ra);
  Transport& b = make_listening(options(2), &rb);
  ASSERT_TRUE(a.add_peer(2, local(b.bound_port())).is_ok());
  ASSERT_TRUE(run_until([&] { return ra.ups == 1; }));
  a.close();
  a.close();
  EXPECT_EQ(ra.downs, 1);
  EXPECT_EQ(send_ping(a, 2, 0).code(), StatusCode::kUnavailable);
  EXPECT_EQ(a.add_peer(3, "127.0.0.1:1").code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace meld::net
