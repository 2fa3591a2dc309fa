// A meldd accepts node-to-node connections from members of its own cluster only.
#include <gtest/gtest.h>

#include <chrono>

#include "base/rng.h"
#include "client/client.h"
#include "jepsen/process.h"
#include "net/transport.h"

namespace meld {
namespace {

class RecordingHandler final : public net::TransportHandler {
 public:
  void on_message(uint64_t, wire::Envelope::Reader) override {}
  void on_peer_up(uint64_t node) override { up_node = node; }
  void on_peer_down(uint64_t, const Status&) override {}
  uint64_t up_node = 0;
};

// Dials the node's peer address as node 7 of cluster_id; returns the node id the link came up
// with, or 0 if it did not within the time limit.
uint64_t dial(const std::string& peer_address, uint64_t node_id, uint64_t cluster_id) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  RecordingHandler handler;
  SeededRng rng(1);
  uint64_t result = 0;
  {
    net::TransportOptions options;
    options.node_id = 7;
    options.cluster_id = cluster_id;
    options.advertise = "127.0.0.1:1";
    net::Transport transport(&loop, options, &handler, &rng);
    EXPECT_TRUE(transport.add_peer(node_id, peer_address).is_ok());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (handler.up_node == 0 && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    result = handler.up_node;
    transport.close();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
  return result;
}

TEST(MelddPeers, AcceptsItsOwnClusterAndRefusesAnother) {
  jepsen::TempDir dir;
  jepsen::MelddProcess node(MELDD_PATH, dir.path() + "/data");
  ASSERT_TRUE(node.start().is_ok());
  client::Options options;
  options.address = node.address();
  auto c = client::Client::connect(options);
  ASSERT_TRUE(c.is_ok());
  auto status = (*c)->status();
  ASSERT_TRUE(status.is_ok());
  ASSERT_FALSE(status->peer_address.empty());

  EXPECT_EQ(dial(status->peer_address, status->node_id, status->cluster_id), status->node_id);
  EXPECT_EQ(dial(status->peer_address, status->node_id, status->cluster_id + 1), 0u);
  EXPECT_EQ(node.stop(), 0);
  EXPECT_NE(node.log().find("net.handshake_refused"), std::string::npos) << node.log();
}

}  // namespace
}  // namespace meld
