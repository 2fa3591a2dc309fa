// Cap'n Proto RPC served from a libuv loop (UvEventPort + UvTcpStream + RpcServer): many
// concurrent clients, and clients that vanish in the middle of a call.
#include <capnp/ez-rpc.h>
#include <capnp/rpc-twoparty.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "net/rpc_server.h"
#include "net/uv_stream.h"
#include "schemas/api.capnp.h"

namespace meld::net {
namespace {

// A Kv whose put of the key "hang" never completes until the caller goes away; every other call
// is answered from a map. cancelled_calls counts hung calls whose promise the server dropped.
// (Cap'n Proto 0.9 cancels a call whose client is gone only if the call allows cancellation.)
class TestKv final : public api::Kv::Server {
 public:
  TestKv(std::atomic<int>& cancelled_calls, std::atomic<int>& hung_calls)
      : cancelled_calls_(cancelled_calls), hung_calls_(hung_calls) {}

  kj::Promise<void> get(GetContext context) override {
    auto key = context.getParams().getKey();
    auto it = data_.find(std::string(key.asChars().begin(), key.size()));
    auto results = context.getResults();
    results.setFound(it != data_.end());
    if (it != data_.end()) {
      results.setValue(
          kj::arrayPtr(reinterpret_cast<const kj::byte*>(it->second.data()), it->second.size()));
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> put(PutContext context) override {
    auto params = context.getParams();
    std::string key(params.getKey().asChars().begin(), params.getKey().size());
    if (key == "hang") {
      context.allowCancellation();
      ++hung_calls_;
      auto paf = kj::newPromiseAndFulfiller<void>();
      hung_.push_back(kj::mv(paf.fulfiller));
      return paf.promise.attach(kj::defer([this]() { ++cancelled_calls_; }));
    }
    data_[key] = std::string(params.getValue().asChars().begin(), params.getValue().size());
    return kj::READY_NOW;
  }

 private:
  std::atomic<int>& cancelled_calls_;
  std::atomic<int>& hung_calls_;
  std::map<std::string, std::string> data_;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> hung_;
};

class TestMeld final : public api::Meld::Server {
 public:
  TestMeld(std::atomic<int>& cancelled, std::atomic<int>& hung)
      : kv_(kj::heap<TestKv>(cancelled, hung)) {}
  kj::Promise<void> kv(KvContext context) override {
    context.getResults().setKv(kv_);
    return kj::READY_NOW;
  }

 private:
  api::Kv::Client kv_;
};

// Runs an RpcServer on its own libuv loop thread, as meldd does, until stop().
class ServerThread {
 public:
  explicit ServerThread(RpcServerOptions options = {}) {
    std::atomic<bool> ready{false};
    thread_ = std::thread([this, &ready, options] {
      uv_loop_init(&loop_);
      {
        UvEventPort port(&loop_);
        RpcServer server(port, kj::heap<TestMeld>(cancelled_, hung_), options);
        EXPECT_TRUE(server.listen("127.0.0.1:0").is_ok());
        address_ = server.bound_address();
        server_ = &server;
        uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
          auto* self = static_cast<ServerThread*>(a->data);
          self->server_->close();
          uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
        });
        stop_.data = this;
        ready = true;
        uv_run(&loop_, UV_RUN_DEFAULT);
        port.close();
        uv_run(&loop_, UV_RUN_DEFAULT);
      }
      EXPECT_EQ(uv_loop_close(&loop_), 0);
    });
    while (!ready) std::this_thread::yield();
  }
  ~ServerThread() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    uv_async_send(&stop_);
    thread_.join();
  }

  const std::string& address() const { return address_; }
  int cancelled() const { return cancelled_.load(); }
  int hung() const { return hung_.load(); }
  size_t active_connections() const { return server_->active_connections(); }

 private:
  uv_loop_t loop_;
  uv_async_t stop_;
  RpcServer* server_ = nullptr;
  std::string address_;
  std::atomic<int> cancelled_{0};
  std::atomic<int> hung_{0};
  std::thread thread_;
};

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

TEST(RpcServer, ManyConcurrentClientsEachSeeTheirOwnWrites) {
  ServerThread server;
  constexpr int kClients = 16;
  constexpr int kCallsPerClient = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      capnp::EzRpcClient client(server.address());
      auto kv = client.getMain<api::Meld>().kvRequest().send().getKv();
      auto& ws = client.getWaitScope();
      // Pipeline all puts, then read every key back.
      kj::Vector<kj::Promise<void>> puts;
      for (int i = 0; i < kCallsPerClient; ++i) {
        auto req = kv.putRequest();
        std::string key = "c" + std::to_string(c) + "/" + std::to_string(i);
        req.setKey(bytes(key));
        req.setValue(bytes("v" + std::to_string(i)));
        puts.add(req.send().ignoreResult());
      }
      kj::joinPromises(puts.releaseAsArray()).wait(ws);
      for (int i = 0; i < kCallsPerClient; ++i) {
        auto req = kv.getRequest();
        req.setKey(bytes("c" + std::to_string(c) + "/" + std::to_string(i)));
        auto resp = req.send().wait(ws);
        if (resp.getFound() && std::string(resp.getValue().asChars().begin(),
                                           resp.getValue().size()) == "v" + std::to_string(i)) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kCallsPerClient);
}

TEST(RpcServer, ClientDisconnectingMidCallCancelsOnlyItsCall) {
  ServerThread server;
  {
    capnp::EzRpcClient client(server.address());
    auto kv = client.getMain<api::Meld>().kvRequest().send().getKv();
    auto req = kv.putRequest();
    req.setKey(bytes("hang"));
    auto hung = req.send();
    // Make sure the hung call reached the server: a later call on the same connection returns.
    auto probe = kv.getRequest();
    probe.setKey(bytes("x"));
    EXPECT_FALSE(probe.send().wait(client.getWaitScope()).getFound());
  }  // the client goes away with its call outstanding

  // The server notices the disconnect and cancels the hung call; a new client is served.
  for (int i = 0; i < 500 && server.cancelled() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(server.cancelled(), 1);

  capnp::EzRpcClient client(server.address());
  auto kv = client.getMain<api::Meld>().kvRequest().send().getKv();
  auto put = kv.putRequest();
  put.setKey(bytes("after"));
  put.setValue(bytes("ok"));
  put.send().wait(client.getWaitScope());
  auto get = kv.getRequest();
  get.setKey(bytes("after"));
  EXPECT_TRUE(get.send().wait(client.getWaitScope()).getFound());
}

TEST(RpcServer, GarbageFromAClientClosesOnlyThatConnection) {
  ServerThread server;
  capnp::EzRpcClient good(server.address());
  auto kv = good.getMain<api::Meld>().kvRequest().send().getKv();
  {
    // A raw socket that sends a frame header claiming a huge segment, then junk.
    auto& ws = good.getWaitScope();
    auto addr = good.getIoProvider().getNetwork().parseAddress(server.address()).wait(ws);
    auto conn = addr->connect().wait(ws);
    // The server may reset the connection as soon as it has read the header, so any write or
    // read below may fail with a disconnect (KJ can throw it before returning a promise, hence
    // evalNow): that is the closing this test expects.
    const uint32_t header[2] = {0, 0x7fffffff};  // one segment of 2^31 words
    std::string junk(4096, '\xAB');
    kj::evalNow([&] { return conn->write(header, sizeof header); })
        .then([&] { return conn->write(junk.data(), junk.size()); })
        .catch_([](kj::Exception&&) {})
        .wait(ws);
    // The server may answer with an RPC abort message, then closes the connection: reading
    // reaches EOF (or a reset) after a few bytes instead of hanging.
    size_t total = 0;
    for (;;) {
      char buf[256];
      size_t n = kj::evalNow([&] { return conn->tryRead(buf, 1, sizeof buf); })
                     .then([](size_t n) { return n; }, [](kj::Exception&&) { return size_t{0}; })
                     .wait(ws);
      if (n == 0) break;
      total += n;
      ASSERT_LT(total, 4096u) << "server keeps talking to a garbage client";
    }
  }
  auto get = kv.getRequest();
  get.setKey(bytes("k"));
  EXPECT_FALSE(get.send().wait(good.getWaitScope()).getFound());
}

// A client that pipelines calls without waiting for answers gets only as many read as the flow
// limit allows; the server stops reading its connection instead of buffering the rest.
TEST(RpcServer, FlowLimitBoundsUnansweredCallsPerConnection) {
  RpcServerOptions options;
  options.flow_limit_bytes = 4096;
  ServerThread server(options);
  capnp::EzRpcClient client(server.address());
  auto kv = client.getMain<api::Meld>().kvRequest().send().getKv();
  kj::Vector<kj::Promise<void>> calls;
  for (int i = 0; i < 1000; ++i) {
    auto req = kv.putRequest();
    req.setKey(bytes("hang"));
    req.setValue(bytes(std::string(100, 'v')));
    calls.add(req.send().ignoreResult());
  }
  // Give the server ample time to read everything it is willing to read.
  auto& timer = client.getIoProvider().getTimer();
  for (int i = 0; i < 20; ++i) timer.afterDelay(10 * kj::MILLISECONDS).wait(client.getWaitScope());
  EXPECT_GT(server.hung(), 0);
  // Each call is ~200 bytes on the wire: 4 KiB admits a few dozen, never the thousand.
  EXPECT_LT(server.hung(), 100);
}

TEST(RpcServer, ConnectionsBeyondTheLimitAreRefused) {
  RpcServerOptions options;
  options.max_connections = 1;
  ServerThread server(options);
  capnp::EzRpcClient first(server.address());
  auto kv = first.getMain<api::Meld>().kvRequest().send().getKv();
  auto get = kv.getRequest();
  get.setKey(bytes("k"));
  EXPECT_FALSE(get.send().wait(first.getWaitScope()).getFound());

  capnp::EzRpcClient second(server.address());
  auto refused = second.getMain<api::Meld>().kvRequest().send();
  EXPECT_ANY_THROW(refused.wait(second.getWaitScope()));
}

TEST(UvTcpStream, ConnectToAClosedPortRejectsNamingTheAddress) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    UvEventPort port(&loop);
    // Bind and close a socket to find a port nobody listens on.
    uv_tcp_t probe;
    uv_tcp_init(&loop, &probe);
    sockaddr_in any{};
    uv_ip4_addr("127.0.0.1", 0, &any);
    uv_tcp_bind(&probe, reinterpret_cast<sockaddr*>(&any), 0);
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&probe, reinterpret_cast<sockaddr*>(&bound), &len);
    int free_port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);

    std::string address = "127.0.0.1:" + std::to_string(free_port);
    std::string error;
    UvTcpStream::connect(&loop, address)
        .then([](kj::Own<kj::AsyncIoStream>) {},
              [&](kj::Exception&& e) { error = e.getDescription().cStr(); })
        .wait(port.wait_scope());
    EXPECT_NE(error.find(address), std::string::npos) << error;
    port.close();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace meld::net
