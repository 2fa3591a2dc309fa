#include "tests/sim/lib/sim_network.h"

namespace meld::sim {

SimNetwork::SimNetwork(const NetworkOptions& options, uint64_t seed)
    : options_(options), rng_(seed) {
  MELD_ASSERT(options.min_delay_us >= 0 && options.min_delay_us <= options.max_delay_us,
              "network delay bounds");
  MELD_ASSERT(options.max_in_flight_per_link > 0, "a link must hold at least one message");
}

SendOutcome SimNetwork::send(consensus::Message m, int64_t now_us) {
  ++stats_.sent;
  if (!connected(m.from, m.to)) {
    ++stats_.cut;
    return SendOutcome::kCut;
  }
  if (rng_.unit() < options_.loss_probability) {
    ++stats_.lost;
    return SendOutcome::kLost;
  }
  bool duplicate = rng_.unit() < options_.duplicate_probability;
  if (!enqueue(m, now_us)) return SendOutcome::kLinkFull;
  if (duplicate && enqueue(m, now_us)) {
    ++stats_.duplicated;
    return SendOutcome::kDuplicated;
  }
  return SendOutcome::kQueued;
}

bool SimNetwork::enqueue(const consensus::Message& m, int64_t now_us) {
  size_t& count = per_link_[Link{m.from, m.to}];
  if (count >= options_.max_in_flight_per_link) {
    ++stats_.link_full;
    return false;
  }
  ++count;
  int64_t delay_us = rng_.between(options_.min_delay_us, options_.max_delay_us);
  queue_.emplace(std::pair{now_us + delay_us, next_seq_++}, m);
  return true;
}

std::optional<Delivery> SimNetwork::pop_due(int64_t now_us) {
  while (!queue_.empty() && queue_.begin()->first.first <= now_us) {
    auto node = queue_.extract(queue_.begin());
    consensus::Message& m = node.mapped();
    --per_link_[Link{m.from, m.to}];
    if (!connected(m.from, m.to)) {
      ++stats_.cut;
      continue;
    }
    ++stats_.delivered;
    return Delivery{node.key().first, std::move(m)};
  }
  return std::nullopt;
}

std::optional<int64_t> SimNetwork::next_delivery_us() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

void SimNetwork::cut(uint64_t from, uint64_t to) {
  cuts_.insert(Link{from, to});
}

void SimNetwork::isolate(const std::set<uint64_t>& group, const std::set<uint64_t>& all) {
  for (uint64_t a : group) {
    for (uint64_t b : all) {
      if (group.count(b) > 0) continue;
      cut(a, b);
      cut(b, a);
    }
  }
}

void SimNetwork::heal() {
  cuts_.clear();
}

bool SimNetwork::connected(uint64_t from, uint64_t to) const {
  return cuts_.count(Link{from, to}) == 0;
}

void SimNetwork::set_loss(double loss_probability, double duplicate_probability) {
  options_.loss_probability = loss_probability;
  options_.duplicate_probability = duplicate_probability;
}

}  // namespace meld::sim
