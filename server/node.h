// One MeldDB node: the storage engine, the node's identity, and the client RPC server, all on
// one libuv loop (DESIGN.md, "Threads and I/O").
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/clock.h"
#include "base/rng.h"
#include "base/status.h"
#include "net/rpc_server.h"
#include "net/transport.h"
#include "net/uv_event_port.h"
#include "server/config.h"
#include "server/services.h"
#include "storage/engine.h"
#include "storage/ts_store.h"

namespace meld::server {

// Runs storage completions on the loop thread: post() from any thread queues the function and
// wakes the loop through a uv_async_t. The queue holds at most what the storage engine has in
// flight, which its own queue capacity bounds.
class LoopExecutor final : public storage::CompletionExecutor {
 public:
  explicit LoopExecutor(uv_loop_t* loop);
  ~LoopExecutor() override;
  void post(std::function<void()> fn) override;
  // Runs what is queued, then closes the async handle; later posts are dropped. Loop thread.
  void close();

 private:
  static void on_async(uv_async_t* handle);
  void run_queued();

  uv_async_t async_;
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
  bool closed_ = false;
};

// Receives node-to-node messages. No range kind sends any yet (Raft and replication arrive with
// their issues); the node already accepts peers of its own cluster, and logs what arrives.
class PeerHandler final : public net::TransportHandler {
 public:
  void on_message(uint64_t from_node, wire::Envelope::Reader msg) override;
  void on_peer_up(uint64_t node) override;
  void on_peer_down(uint64_t node, const Status& why) override;
};

class Node {
 public:
  // Opens storage in config.data_dir, loads or creates the node's identity, listens for peers on
  // config.peer_listen and starts serving RPC on config.listen. Errors name what failed (directory,
  // address). The loop must be run by the caller; the node must be shut down and the loop run to
  // completion before destruction.
  static Result<std::unique_ptr<Node>> start(const Config& config, uv_loop_t* loop);
  ~Node();

  // Stops accepting clients, cancels their calls, drains storage commits and closes the engine
  // and every handle, after which uv_run returns. Idempotent; loop thread.
  void shutdown();

  const NodeInfo& info() const { return info_; }

 private:
  Node(uv_loop_t* loop) : rng_(os_random_u64()), port_(loop), executor_(loop) {}
  // With --ts-retention: drops the blocks that expired, so that an idle node frees their space
  // too (writes do it as they come).
  static void on_retention_timer(uv_timer_t* timer);

  SystemClock clock_;
  SeededRng rng_;  // reconnect jitter
  net::UvEventPort port_;
  LoopExecutor executor_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::TsStore> ts_store_;  // on engine_; before it in destruction
  PeerHandler peer_handler_;
  std::unique_ptr<net::Transport> transport_;
  std::unique_ptr<net::RpcServer> rpc_;
  NodeInfo info_;
  uv_timer_t retention_timer_{};
  bool retention_timer_started_ = false;
  bool shut_down_ = false;
};

}  // namespace meld::server
