#include "server/node.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <cstring>

#include "base/ids.h"
#include "base/log.h"
#include "base/rng.h"
#include "schemas/meta.capnp.h"

namespace meld::server {
namespace {

constexpr std::string_view kNodeRecordKey = "node";
// How often a node with a time-series retention looks for expired blocks. Blocks last 1h or more,
// so a block outlives its retention by a minute at most.
constexpr uint64_t kRetentionCheckMs = 60'000;

uint64_t nonzero_random() {
  uint64_t v = 0;
  while (v == 0) v = os_random_u64();
  return v;
}

// Loads the node record from the meta family, or creates and durably stores a new one on first
// start. A record that does not decode is reported as corruption, never trusted.
Result<NodeInfo> load_or_create_identity(storage::Engine& engine, const Config& config,
                                         const Clock& clock) {
  auto stored = engine.get(storage::Family::kMeta, kNodeRecordKey);
  if (!stored.is_ok()) return stored.status();
  NodeInfo info;
  if (stored->has_value()) {
    const std::string& bytes = **stored;
    if (bytes.size() % sizeof(capnp::word) != 0) {
      return Status::corruption("node record in " + config.data_dir + " has a bad size");
    }
    try {
      kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
      std::memcpy(words.begin(), bytes.data(), bytes.size());
      capnp::ReaderOptions limits;
      limits.traversalLimitInWords = 1 << 16;
      capnp::FlatArrayMessageReader reader(words, limits);
      auto record = reader.getRoot<meta::NodeRecord>();
      info.node_id = record.getNodeId();
      info.cluster_id = record.getClusterId();
    } catch (const kj::Exception& e) {
      return Status::corruption("node record in " + config.data_dir +
                                " does not decode: " + e.getDescription().cStr());
    }
    if (info.node_id == 0) return Status::corruption("node record has node id 0");
    log::info("node.identity_loaded",
              {{"node", format_id(info.node_id)}, {"cluster", format_id(info.cluster_id)}});
    return info;
  }
  info.node_id = nonzero_random();
  // A node started without --join founds a cluster; a joining node learns its cluster id from
  // the member it joins, once cluster membership exists.
  info.cluster_id = config.join.empty() ? nonzero_random() : 0;
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<meta::NodeRecord>();
  record.setNodeId(info.node_id);
  record.setClusterId(info.cluster_id);
  record.setRpcAddress(config.listen.c_str());
  record.setPeerAddress(config.peer_listen.c_str());
  record.setState(meta::NodeState::LIVE);
  record.setCreatedMs(clock.wall_ms());
  record.setJoinAddress(config.join.c_str());
  auto flat = capnp::messageToFlatArray(message);
  auto flat_bytes = flat.asChars();
  storage::WriteBatch batch;
  batch.put(storage::Family::kMeta, kNodeRecordKey,
            std::string_view(flat_bytes.begin(), flat_bytes.size()));
  MELD_RETURN_IF_ERROR(engine.commit_sync(std::move(batch)));
  log::info("node.identity_created", {{"node", format_id(info.node_id)},
                                      {"cluster", format_id(info.cluster_id)},
                                      {"join", config.join}});
  return info;
}

}  // namespace

void PeerHandler::on_message(uint64_t from_node, wire::Envelope::Reader msg) {
  log::debug("peer.message_dropped", {{"from", format_id(from_node)},
                                      {"kind", static_cast<int>(msg.getBody().which())},
                                      {"reason", "no range handles node messages yet"}});
}

void PeerHandler::on_peer_up(uint64_t node) {
  log::info("peer.up", {{"node", format_id(node)}});
}

void PeerHandler::on_peer_down(uint64_t node, const Status& why) {
  log::info("peer.down", {{"node", format_id(node)}, {"reason", why.to_string()}});
}

LoopExecutor::LoopExecutor(uv_loop_t* loop) {
  MELD_ASSERT(uv_async_init(loop, &async_, &LoopExecutor::on_async) == 0, "uv_async_init");
  async_.data = this;
}

LoopExecutor::~LoopExecutor() {
  MELD_ASSERT(closed_, "LoopExecutor destroyed before close()");
}

void LoopExecutor::post(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  queue_.push_back(std::move(fn));
  uv_async_send(&async_);
}

void LoopExecutor::on_async(uv_async_t* handle) {
  static_cast<LoopExecutor*>(handle->data)->run_queued();
}

void LoopExecutor::run_queued() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
}

void LoopExecutor::close() {
  run_queued();
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    queue_.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

Result<std::unique_ptr<Node>> Node::start(const Config& config, uv_loop_t* loop) {
  std::unique_ptr<Node> node(new Node(loop));
  auto fail = [&](Status s) -> Result<std::unique_ptr<Node>> {
    node->shutdown();
    uv_run(loop, UV_RUN_DEFAULT);
    return s;
  };
  storage::Options options;
  options.dir = config.data_dir;
  options.sync = config.sync_writes;
  auto engine = storage::Engine::open(options, &node->executor_);
  if (!engine.is_ok()) return fail(engine.status());
  node->engine_ = std::move(engine).value();

  auto info = load_or_create_identity(*node->engine_, config, node->clock_);
  if (!info.is_ok()) return fail(info.status());
  node->info_ = *info;
  node->info_.data_dir = config.data_dir;
  node->info_.started_monotonic_ms = node->clock_.monotonic_ms();

  storage::TsStoreOptions ts_options;
  ts_options.retention_ms = config.ts_retention_ms;
  ts_options.block_duration_ms = config.ts_block_ms;
  auto ts_store = storage::TsStore::open(*node->engine_, node->clock_, ts_options);
  if (!ts_store.is_ok()) return fail(ts_store.status());
  node->ts_store_ = std::move(ts_store).value();
  if (config.ts_retention_ms > 0) {
    MELD_ASSERT(uv_timer_init(loop, &node->retention_timer_) == 0, "uv_timer_init");
    node->retention_timer_.data = node.get();
    node->retention_timer_started_ = true;
    uv_timer_start(&node->retention_timer_, &Node::on_retention_timer, kRetentionCheckMs,
                   kRetentionCheckMs);
  }

  net::TransportOptions peer_options;
  peer_options.node_id = node->info_.node_id;
  peer_options.cluster_id = node->info_.cluster_id;
  peer_options.advertise = config.peer_listen;
  node->transport_ =
      std::make_unique<net::Transport>(loop, peer_options, &node->peer_handler_, &node->rng_);
  Status peers = node->transport_->listen(config.peer_listen);
  if (!peers.is_ok()) return fail(peers);
  node->info_.peer_address = config.peer_listen.substr(0, config.peer_listen.rfind(':') + 1) +
                             std::to_string(node->transport_->bound_port());

  Node* self = node.get();
  NodeProbe probe{
      [self] { return self->clock_.monotonic_ms(); },
      [self] { return self->rpc_ ? static_cast<uint32_t>(self->rpc_->active_connections()) : 0u; }};
  // The RPC server needs its bound address for NodeInfo, and the service needs NodeInfo: bind
  // first with a service created after, through a capability that is filled in once known.
  auto paf = kj::newPromiseAndFulfiller<capnp::Capability::Client>();
  node->rpc_ =
      std::make_unique<net::RpcServer>(node->port_, kj::mv(paf.promise), net::RpcServerOptions{});
  Status listening = node->rpc_->listen(config.listen);
  if (!listening.is_ok()) return fail(listening);
  node->info_.rpc_address =
      config.advertise.empty() ? node->rpc_->bound_address() : config.advertise;
  paf.fulfiller->fulfill(make_meld_service(*node->engine_, *node->ts_store_, node->info_, probe));
  log::info("node.started", {{"node", format_id(node->info_.node_id)},
                             {"rpc", node->rpc_->bound_address()},
                             {"peer", node->info_.peer_address},
                             {"data_dir", config.data_dir},
                             {"sync", config.sync_writes}});
  return node;
}

Node::~Node() {
  MELD_ASSERT(shut_down_, "Node destroyed before shutdown()");
}

void Node::on_retention_timer(uv_timer_t* timer) {
  Status dropped = static_cast<Node*>(timer->data)->ts_store_->enforce_retention();
  if (!dropped.is_ok()) log::error("node.ts_retention_failed", {{"error", dropped.to_string()}});
}

void Node::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  log::info("node.stopping", {{"node", format_id(info_.node_id)}});
  if (retention_timer_started_) {
    uv_timer_stop(&retention_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&retention_timer_), nullptr);
  }
  if (rpc_) rpc_->close();
  if (transport_) transport_->close();
  if (ts_store_) {
    // Sealed heads leave no log to replay and make the data directory its compact size.
    Status sealed = ts_store_->seal_all();
    if (!sealed.is_ok()) log::error("node.ts_seal_failed", {{"error", sealed.to_string()}});
  }
  if (engine_) engine_->close();  // drains queued commits; their completions run below
  executor_.close();
  rpc_.reset();
  port_.close();
  log::info("node.stopped", {{"node", format_id(info_.node_id)}});
}

}  // namespace meld::server
