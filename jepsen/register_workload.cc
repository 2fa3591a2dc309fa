#include "jepsen/register_workload.h"

#include <optional>
#include <string>
#include <vector>

namespace meld::jepsen {

namespace {

struct Slot {
  int64_t process = 0;
  std::optional<size_t> op;  // index into the history while an op is in flight
  bool applied = false;
  std::optional<int64_t> read_value;
  bool refused = false;  // the service refused the op (a cas on another value): completes fail
};

class Service {
 public:
  Service(const RegisterWorkloadOptions& options, Rng& rng)
      : options_(options), rng_(rng), values_(options.keys), past_values_(options.keys) {}

  // Applies `op` at this instant; returns false when the service refuses it (a cas that found
  // another value), in which case it had no effect.
  bool apply(const Op& op, size_t key, std::optional<int64_t>& read_value) {
    std::optional<int64_t>& value = values_[key];
    switch (op.function) {
      case OpFunction::kRead:
        read_value = value;
        if (chance(options_.stale_read_probability) && !past_values_[key].empty()) {
          read_value = past_values_[key][rng_.uniform(past_values_[key].size())];
        }
        return true;
      case OpFunction::kWrite:
        if (!chance(options_.lost_write_probability)) set(key, op.value);
        return true;
      case OpFunction::kCas:
        if (value != op.expected && !chance(options_.cas_ignores_expected_probability)) {
          return false;
        }
        set(key, op.value);
        return true;
    }
    MELD_ASSERT(false, "unknown OpFunction");
  }

  std::optional<int64_t> current(size_t key) const { return values_[key]; }
  bool chance(double p) { return p > 0 && rng_.unit() < p; }

 private:
  void set(size_t key, int64_t v) {
    // Earlier values are kept only for the stale-read bug, which is for small histories.
    if (options_.stale_read_probability > 0) past_values_[key].push_back(values_[key]);
    values_[key] = v;
  }

  const RegisterWorkloadOptions& options_;
  Rng& rng_;
  std::vector<std::optional<int64_t>> values_;
  std::vector<std::vector<std::optional<int64_t>>> past_values_;
};

}  // namespace

History generate_register_history(const RegisterWorkloadOptions& options, Rng& rng) {
  MELD_ASSERT(options.keys > 0 && options.processes > 0, "a workload needs keys and processes");
  MELD_ASSERT(options.read_percent + options.write_percent <= 100, "percentages above 100");
  Service service(options, rng);
  History history;
  history.reserve(options.ops);
  std::vector<Slot> slots(options.processes);
  int64_t next_process = 0;
  for (Slot& slot : slots) slot.process = next_process++;
  // Info ops that had no effect yet and may still take effect, as indices into the history.
  std::vector<size_t> ghosts;
  int64_t next_value = 1;
  auto fresh_value = [&] {
    return options.value_range > 0 ? rng.between(1, options.value_range) : next_value++;
  };
  auto key_index = [](const Op& op) { return static_cast<size_t>(std::stoull(op.key.substr(1))); };

  int64_t now = 0;
  size_t in_flight = 0;
  while (history.size() < options.ops || in_flight > 0) {
    // Time advances by 0 or 1 per event, so some events share a time.
    now += static_cast<int64_t>(rng.uniform(2));
    if (!ghosts.empty() && service.chance(0.05)) {
      size_t g = rng.uniform(ghosts.size());
      std::optional<int64_t> ignored;
      Op& ghost = history[ghosts[g]];
      service.apply(ghost, key_index(ghost), ignored);
      ghosts[g] = ghosts.back();
      ghosts.pop_back();
      continue;
    }
    Slot& slot = slots[rng.uniform(slots.size())];
    if (!slot.op.has_value()) {
      if (history.size() == options.ops) continue;
      Op op;
      op.process = slot.process;
      size_t key = rng.uniform(options.keys);
      op.key = "k" + std::to_string(key);
      uint64_t roll = rng.uniform(100);
      if (roll < options.read_percent) {
        op.function = OpFunction::kRead;
      } else if (roll < options.read_percent + options.write_percent) {
        op.function = OpFunction::kWrite;
        op.value = fresh_value();
      } else {
        op.function = OpFunction::kCas;
        std::optional<int64_t> current = service.current(key);
        op.expected = current.has_value() && rng.uniform(2) == 0 ? *current : fresh_value();
        op.value = fresh_value();
      }
      op.invoke_time = now;
      slot.op = history.size();
      slot.applied = false;
      slot.refused = false;
      slot.read_value.reset();
      history.push_back(std::move(op));
      ++in_flight;
      continue;
    }
    Op& op = history[*slot.op];
    if (!slot.applied && !slot.refused) {
      if (service.chance(options.fail_probability)) {
        slot.refused = true;
      } else if (service.chance(options.info_probability)) {
        op.outcome = OpOutcome::kInfo;
        op.complete_time = now;
        ghosts.push_back(*slot.op);
      } else {
        slot.applied = service.apply(op, key_index(op), slot.read_value);
        slot.refused = !slot.applied;
        continue;
      }
    }
    if (op.outcome != OpOutcome::kInfo) {
      op.complete_time = now;
      if (slot.refused) {
        op.outcome = OpOutcome::kFail;
      } else if (service.chance(options.info_probability)) {
        op.outcome = OpOutcome::kInfo;
      } else {
        op.outcome = OpOutcome::kOk;
        if (op.function == OpFunction::kRead) op.read_value = slot.read_value;
      }
    }
    slot.op.reset();
    --in_flight;
    if (op.outcome == OpOutcome::kInfo) slot.process = next_process++;
  }
  return history;
}

}  // namespace meld::jepsen
