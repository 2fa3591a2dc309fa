// Throughput of net::Transport over one loopback connection. Sender and receiver are two
// Transports in this process on one libuv loop thread, so they share one core: the figures are
// what one core does for both ends, a lower bound for a real two-node link.
#include <capnp/message.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "bench/bench.h"
#include "net/transport.h"

namespace meld::bench {
namespace {

// Frames the sender keeps queued at most; a window well under max_peer_queue_bytes.
constexpr size_t kWindowBytes = 8 << 20;

struct Receiver : net::TransportHandler {
  void on_message(uint64_t from_node, wire::Envelope::Reader msg) override {
    if (msg.getBody().getPing().getSequence() != received) out_of_order++;
    received++;
  }
  uint64_t received = 0;
  uint64_t out_of_order = 0;
};

struct Sender : net::TransportHandler {
  void on_message(uint64_t from_node, wire::Envelope::Reader msg) override {}
  void on_peer_up(uint64_t node) override { up = true; }
  bool up = false;
};

struct Run {
  net::Transport* sender = nullptr;
  net::Transport* receiver = nullptr;
  Receiver* receiving = nullptr;
  Sender* sending = nullptr;
  size_t payload_bytes = 0;
  uint64_t messages = 0;
  uint64_t sent = 0;
  std::chrono::steady_clock::time_point start{};
  std::chrono::steady_clock::time_point end{};
  bool started = false;
  bool finished = false;
};

// Runs every loop turn: sends while the window has room, and stops the loop once all arrived.
void on_idle(uv_idle_t* idle) {
  auto* run = static_cast<Run*>(idle->data);
  if (!run->sending->up) return;
  if (!run->started) {
    run->started = true;
    run->start = std::chrono::steady_clock::now();
  }
  while (run->sent < run->messages && run->sender->queued_bytes(2) < kWindowBytes) {
    capnp::MallocMessageBuilder message;
    auto ping = message.initRoot<wire::Envelope>().getBody().initPing();
    ping.setSequence(run->sent);
    ping.initPayload(run->payload_bytes);
    if (!run->sender->send(2, message).is_ok()) break;
    run->sent++;
  }
  if (run->receiving->received == run->messages && !run->finished) {
    run->finished = true;
    run->end = std::chrono::steady_clock::now();
    run->sender->close();
    run->receiver->close();
    uv_idle_stop(idle);
    uv_close(reinterpret_cast<uv_handle_t*>(idle), nullptr);
  }
}

int run_one(size_t payload_bytes, uint64_t messages) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  SeededRng rng(1);
  Receiver receiving;
  Sender sending;
  net::TransportOptions ro{.node_id = 2, .cluster_id = 1, .advertise = "127.0.0.1:0"};
  net::TransportOptions so{.node_id = 1, .cluster_id = 1, .advertise = "127.0.0.1:0"};
  int rc = 0;
  {
    net::Transport receiver(&loop, ro, &receiving, &rng);
    net::Transport sender(&loop, so, &sending, &rng);
    Status s = receiver.listen("127.0.0.1:0");
    if (s.is_ok()) s = sender.add_peer(2, "127.0.0.1:" + std::to_string(receiver.bound_port()));
    if (!s.is_ok()) {
      std::fprintf(stderr, "transport: %s\n", s.to_string().c_str());
      return 1;
    }
    Run run{.sender = &sender,
            .receiver = &receiver,
            .receiving = &receiving,
            .sending = &sending,
            .payload_bytes = payload_bytes,
            .messages = messages};
    uv_idle_t idle;
    uv_idle_init(&loop, &idle);
    idle.data = &run;
    uv_idle_start(&idle, &on_idle);
    uv_run(&loop, UV_RUN_DEFAULT);

    double seconds = std::chrono::duration<double>(run.end - run.start).count();
    report("mode", "one process, one loop thread, sender and receiver on one loopback connection");
    report("payload_bytes", static_cast<double>(payload_bytes));
    report("messages", static_cast<double>(messages));
    report("window_bytes", static_cast<double>(kWindowBytes));
    report("seconds", seconds);
    report("messages_per_s", static_cast<double>(messages) / seconds);
    report("mb_per_s", static_cast<double>(messages * payload_bytes) / seconds / 1e6);
    report("out_of_order", static_cast<double>(receiving.out_of_order));
    rc = receiving.out_of_order == 0 ? 0 : 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}

}  // namespace

MELD_BENCH(transport_bench, "transport",
           "[PAYLOAD_BYTES MESSAGES] Ping throughput over one loopback connection "
           "(default: 64 B x 500,000 and 16 KiB x 100,000)") {
  log::set_min_level(log::Level::kWarn);
  if (args.size() == 2) {
    std::optional<uint64_t> payload_bytes = parse_u64(args[0]);
    std::optional<uint64_t> messages = parse_u64(args[1]);
    if (!payload_bytes || !messages || *messages == 0) {
      std::fprintf(stderr, "usage: meld-bench transport [PAYLOAD_BYTES MESSAGES]\n");
      return 2;
    }
    return run_one(*payload_bytes, *messages);
  }
  int rc = run_one(64, 500'000);
  std::printf("\n");
  return rc | run_one(16 * 1024, 100'000);
}

}  // namespace meld::bench
