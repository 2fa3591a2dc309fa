// The simulated network of tests/sim: every Raft message between simulated nodes goes through
// it. Per message it draws a delay (so messages reorder), a loss and a duplication from its own
// seeded Rng; directed cuts model symmetric and asymmetric partitions, checked when a message is
// sent and again when it would be delivered (a partition that starts while a message is in flight
// drops it). Each directed link holds at most max_in_flight_per_link messages; past that the
// message is dropped, as a full socket buffer would.
//
// Deterministic: the same seed and the same calls give the same deliveries in the same order.
// Single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "base/rng.h"
#include "consensus/types.h"

namespace meld::sim {

struct NetworkOptions {
  int64_t min_delay_us = 100;   // one-way delay, drawn uniformly in [min_delay_us, max_delay_us]
  int64_t max_delay_us = 2000;  // >= min_delay_us
  double loss_probability = 0;
  double duplicate_probability = 0;  // the copy gets its own delay
  size_t max_in_flight_per_link = 128;
};

enum class SendOutcome { kQueued, kDuplicated, kLost, kCut, kLinkFull };

// A message due for delivery.
struct Delivery {
  int64_t deliver_us = 0;
  consensus::Message message;
};

struct NetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;        // random loss
  uint64_t cut = 0;         // dropped by a partition, at send or at delivery
  uint64_t link_full = 0;   // dropped at the per-link bound
  uint64_t duplicated = 0;  // extra copies queued
};

class SimNetwork {
 public:
  SimNetwork(const NetworkOptions& options, uint64_t seed);

  // Queues `m` (from m.from to m.to) at time now_us. kCut and kLinkFull and kLost mean nothing
  // was queued; kDuplicated means two copies were.
  SendOutcome send(consensus::Message m, int64_t now_us);
  // Removes and returns the next message due at or before now_us, earliest first (ties in send
  // order); nullopt when none is due. Messages whose link is cut by now are dropped on the way.
  std::optional<Delivery> pop_due(int64_t now_us);
  // When the next queued message is due; nullopt when nothing is in flight.
  std::optional<int64_t> next_delivery_us() const;

  // Drops messages from `from` to `to` (one direction) until heal().
  void cut(uint64_t from, uint64_t to);
  // Cuts every link between `group` and the other nodes of `all`, both ways.
  void isolate(const std::set<uint64_t>& group, const std::set<uint64_t>& all);
  void heal();
  bool connected(uint64_t from, uint64_t to) const;

  // Loss and duplication after construction (the simulator turns them off to let a run settle).
  void set_loss(double loss_probability, double duplicate_probability);

  size_t in_flight() const { return queue_.size(); }
  const NetworkStats& stats() const { return stats_; }

 private:
  using Link = std::pair<uint64_t, uint64_t>;
  bool enqueue(const consensus::Message& m, int64_t now_us);

  NetworkOptions options_;
  SeededRng rng_;
  // Keyed by (delivery time, sequence number): iteration order is the delivery order.
  std::map<std::pair<int64_t, uint64_t>, consensus::Message> queue_;
  std::map<Link, size_t> per_link_;
  std::set<Link> cuts_;
  uint64_t next_seq_ = 0;
  NetworkStats stats_;
};

}  // namespace meld::sim
