#include "jepsen/linearizability.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/hash.h"

namespace meld::jepsen {

std::vector<bool> Model::redundant_info_ops(const std::vector<const Op*>& ops) const {
  return std::vector<bool>(ops.size(), false);
}

// The register's state is empty for nil, else the value's 8 bytes.
ModelState RegisterModel::init() const {
  return {};
}

namespace {

ModelState encode_register(int64_t value) {
  ModelState state(sizeof(value), '\0');
  std::memcpy(state.data(), &value, sizeof(value));
  return state;
}

std::optional<int64_t> decode_register(const ModelState& state) {
  if (state.empty()) return std::nullopt;
  MELD_ASSERT(state.size() == sizeof(int64_t), "register state of the wrong size");
  int64_t value = 0;
  std::memcpy(&value, state.data(), sizeof(value));
  return value;
}

}  // namespace

std::optional<ModelState> RegisterModel::step(const ModelState& state, const Op& op) const {
  switch (op.function) {
    case OpFunction::kRead:
      if (op.outcome != OpOutcome::kOk || decode_register(state) == op.read_value) return state;
      return std::nullopt;
    case OpFunction::kWrite:
      return encode_register(op.value);
    case OpFunction::kCas:
      if (decode_register(state) == op.expected) return encode_register(op.value);
      return std::nullopt;
  }
  MELD_ASSERT(false, "unknown OpFunction");
}

bool RegisterModel::equal(const ModelState& a, const ModelState& b) const {
  return a == b;
}

uint64_t RegisterModel::hash(const ModelState& state) const {
  return fast_hash64(state);
}

std::string RegisterModel::describe(const ModelState& state) const {
  std::optional<int64_t> value = decode_register(state);
  return value.has_value() ? std::to_string(*value) : "nil";
}

// Between such an op and the next op that changes the state, the register holds its value:
// no ok read can come there (none returned the value) and no cas can apply (none expected it),
// so the next op is a write or nothing, and dropping the info op changes no result.
std::vector<bool> RegisterModel::redundant_info_ops(const std::vector<const Op*>& ops) const {
  std::unordered_set<int64_t> observed;
  for (const Op* op : ops) {
    if (op->function == OpFunction::kCas) observed.insert(op->expected);
    if (op->function == OpFunction::kRead && op->outcome == OpOutcome::kOk &&
        op->read_value.has_value()) {
      observed.insert(*op->read_value);
    }
  }
  std::vector<bool> redundant(ops.size(), false);
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = *ops[i];
    redundant[i] = op.outcome == OpOutcome::kInfo && op.function != OpFunction::kRead &&
                   !observed.contains(op.value);
  }
  return redundant;
}

namespace {

constexpr uint32_t kNoEntry = std::numeric_limits<uint32_t>::max();

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The set of linearized ops of one key, with what the memo table needs in O(1): a Zobrist hash
// (XOR of a random word per member) and a canonical compact form. Ops linearize roughly in
// invocation order, so the set is nearly always "every op below some index, plus a few above":
// its compact form is the index of the first word that is not all ones and the words from there
// to the last non-zero word, a handful of words however long the history.
class LinearizedSet {
 public:
  explicit LinearizedSet(size_t ops) : words_((ops + 63) / 64, 0), zobrist_(ops) {
    for (size_t i = 0; i < ops; ++i) zobrist_[i] = splitmix64(i);
  }

  void insert(uint32_t op) {
    size_t w = op / 64;
    words_[w] |= uint64_t{1} << (op % 64);
    hash_ ^= zobrist_[op];
    while (first_open_ < words_.size() && words_[first_open_] == ~uint64_t{0}) ++first_open_;
    end_ = std::max(end_, w + 1);
  }

  void erase(uint32_t op) {
    size_t w = op / 64;
    words_[w] &= ~(uint64_t{1} << (op % 64));
    hash_ ^= zobrist_[op];
    first_open_ = std::min(first_open_, w);
    while (end_ > 0 && words_[end_ - 1] == 0) --end_;
  }

  uint64_t hash() const { return hash_; }
  size_t first_open_word() const { return first_open_; }
  // The words from first_open_word() up to the last non-zero word (none when that is below).
  const uint64_t* open_words() const { return words_.data() + first_open_; }
  size_t open_word_count() const { return end_ > first_open_ ? end_ - first_open_ : 0; }

 private:
  std::vector<uint64_t> words_;
  std::vector<uint64_t> zobrist_;
  uint64_t hash_ = 0;
  size_t first_open_ = 0;  // every word below is all ones
  size_t end_ = 0;         // one past the last non-zero word
};

// The (linearized set, model state) pairs the search has reached, stored compactly.
class MemoTable {
 public:
  explicit MemoTable(const Model& model) : model_(model) {}

  // Adds the pair; false when it was already present.
  bool insert(const LinearizedSet& set, ModelState state) {
    uint64_t hash = set.hash() ^ splitmix64(model_.hash(state));
    auto [it, fresh] = heads_.try_emplace(hash, kNoEntry);
    for (uint32_t i = it->second; i != kNoEntry; i = entries_[i].next_same_hash) {
      const Entry& e = entries_[i];
      if (e.first_open_word == set.first_open_word() && e.word_count == set.open_word_count() &&
          std::equal(set.open_words(), set.open_words() + e.word_count,
                     words_.begin() + static_cast<ptrdiff_t>(e.words_offset)) &&
          model_.equal(e.state, state)) {
        return false;
      }
    }
    MELD_ASSERT(entries_.size() < kNoEntry, "memo table index overflow");
    entries_.push_back(Entry{set.first_open_word(), set.open_word_count(), words_.size(),
                             it->second, std::move(state)});
    words_.insert(words_.end(), set.open_words(), set.open_words() + set.open_word_count());
    it->second = static_cast<uint32_t>(entries_.size() - 1);
    return true;
  }

 private:
  struct Entry {
    size_t first_open_word;
    size_t word_count;
    size_t words_offset;
    uint32_t next_same_hash;
    ModelState state;
  };

  const Model& model_;
  std::unordered_map<uint64_t, uint32_t> heads_;  // hash -> newest entry with it
  std::vector<Entry> entries_;
  std::vector<uint64_t> words_;  // every entry's open words, back to back
};

enum class KeyVerdict { kLinearizable, kNotLinearizable, kExhausted };

struct KeyResult {
  KeyVerdict verdict = KeyVerdict::kLinearizable;
  std::vector<uint32_t> longest_prefix;  // local op indices
  uint32_t unplaced = 0;
  ModelState state_after_prefix;
};

// Lowe's list of call and return entries in time order, searched with undoable removals.
class KeySearch {
 public:
  KeySearch(const std::vector<const Op*>& ops, const Model& model)
      : ops_(ops), model_(model), set_(ops.size()), memo_(model) {
    MELD_ASSERT(ops.size() < kNoEntry / 2, "too many ops for one key");
    uint32_t n = static_cast<uint32_t>(ops.size());
    entries_.resize(2 * n + 1);
    std::vector<uint32_t> order(2 * n);
    for (uint32_t i = 0; i < n; ++i) {
      const Op& op = *ops[i];
      // An info op may take effect any time after its invocation: its return never comes.
      int64_t complete =
          op.outcome == OpOutcome::kInfo ? std::numeric_limits<int64_t>::max() : op.complete_time;
      entries_[2 * i] = Entry{op.invoke_time, i, true, 2 * i + 1, kNoEntry, kNoEntry};
      entries_[2 * i + 1] = Entry{complete, i, false, 2 * i, kNoEntry, kNoEntry};
      order[2 * i] = 2 * i;
      order[2 * i + 1] = 2 * i + 1;
    }
    // Calls before returns at equal times: ops that touch in time are concurrent.
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const Entry& x = entries_[a];
      const Entry& y = entries_[b];
      if (x.time != y.time) return x.time < y.time;
      if (x.is_call != y.is_call) return x.is_call;
      return a < b;
    });
    head_ = 2 * n;
    entries_[head_] = Entry{std::numeric_limits<int64_t>::min(), 0, false, kNoEntry, kNoEntry,
                            order.empty() ? kNoEntry : order[0]};
    for (size_t k = 0; k < order.size(); ++k) {
      entries_[order[k]].prev = k == 0 ? head_ : order[k - 1];
      entries_[order[k]].next = k + 1 < order.size() ? order[k + 1] : kNoEntry;
    }
  }

  // Explores at most states_left states, counting them in states_explored.
  KeyResult run(uint64_t states_left, uint64_t& states_explored) {
    ModelState state = model_.init();
    uint32_t e = entries_[head_].next;
    for (;;) {
      if (entries_[head_].next == kNoEntry) return {};
      // The list always ends with a return entry, so the scan meets one before its end.
      MELD_ASSERT(e != kNoEntry, "search ran off the entry list");
      const Entry& entry = entries_[e];
      if (entry.is_call) {
        std::optional<ModelState> next_state = model_.step(state, *ops_[entry.op]);
        if (next_state.has_value()) {
          set_.insert(entry.op);
          if (memo_.insert(set_, *next_state)) {
            if (states_left == 0) {
              KeyResult result;
              result.verdict = KeyVerdict::kExhausted;
              return result;
            }
            --states_left;
            ++states_explored;
            stack_.push_back(Frame{e, std::move(state)});
            state = std::move(*next_state);
            lift(e);
            e = entries_[head_].next;
            continue;
          }
          set_.erase(entry.op);
        }
        e = entry.next;
        continue;
      }
      // Reaching an info op's return means every ok op is linearized: the remaining info ops
      // never took effect.
      if (ops_[entry.op]->outcome == OpOutcome::kInfo) return {};
      if (!have_best_ || stack_.size() > best_prefix_.size()) record_best(entry.op, state);
      if (stack_.empty()) {
        KeyResult result;
        result.verdict = KeyVerdict::kNotLinearizable;
        result.longest_prefix = std::move(best_prefix_);
        result.unplaced = best_unplaced_;
        result.state_after_prefix = std::move(best_state_);
        return result;
      }
      Frame frame = std::move(stack_.back());
      stack_.pop_back();
      prefix_low_water_ = std::min(prefix_low_water_, stack_.size());
      set_.erase(entries_[frame.call_entry].op);
      unlift(frame.call_entry);
      state = std::move(frame.state_before);
      e = entries_[frame.call_entry].next;
    }
  }

 private:
  struct Entry {
    int64_t time;
    uint32_t op;
    bool is_call;
    uint32_t match;  // the op's other entry
    uint32_t prev;
    uint32_t next;
  };
  struct Frame {
    uint32_t call_entry;
    ModelState state_before;
  };

  void unlink(uint32_t i) {
    entries_[entries_[i].prev].next = entries_[i].next;
    if (entries_[i].next != kNoEntry) entries_[entries_[i].next].prev = entries_[i].prev;
  }
  void relink(uint32_t i) {
    entries_[entries_[i].prev].next = i;
    if (entries_[i].next != kNoEntry) entries_[entries_[i].next].prev = i;
  }
  void lift(uint32_t call) {
    unlink(call);
    unlink(entries_[call].match);
  }
  void unlift(uint32_t call) {
    relink(entries_[call].match);
    relink(call);
  }

  // Remembers the deepest point the search backtracked from. The prefix is updated only from
  // the lowest stack depth popped since the last record, so keeping it costs O(1) amortized per
  // search step instead of a copy of the stack.
  void record_best(uint32_t unplaced, const ModelState& state) {
    have_best_ = true;
    best_prefix_.resize(std::min(best_prefix_.size(), prefix_low_water_));
    for (size_t i = best_prefix_.size(); i < stack_.size(); ++i) {
      best_prefix_.push_back(entries_[stack_[i].call_entry].op);
    }
    prefix_low_water_ = stack_.size();
    best_unplaced_ = unplaced;
    best_state_ = state;
  }

  const std::vector<const Op*>& ops_;
  const Model& model_;
  std::vector<Entry> entries_;
  uint32_t head_ = 0;
  LinearizedSet set_;
  MemoTable memo_;
  std::vector<Frame> stack_;

  bool have_best_ = false;
  std::vector<uint32_t> best_prefix_;
  size_t prefix_low_water_ = 0;  // the stack is unchanged below this depth since record_best
  uint32_t best_unplaced_ = 0;
  ModelState best_state_;
};

std::string describe_op(const History& history, size_t index) {
  const Op& op = history[index];
  std::string out = "op " + std::to_string(index) + " (process " + std::to_string(op.process) +
                    "): " + std::string(op_function_name(op.function));
  switch (op.function) {
    case OpFunction::kRead:
      if (op.outcome == OpOutcome::kOk) {
        out += " -> " + (op.read_value.has_value() ? std::to_string(*op.read_value) : "nil");
      }
      break;
    case OpFunction::kWrite:
      out += " " + std::to_string(op.value);
      break;
    case OpFunction::kCas:
      out += " " + std::to_string(op.expected) + " -> " + std::to_string(op.value);
      break;
  }
  out += " " + std::string(op_outcome_name(op.outcome)) + ", invoked " +
         std::to_string(op.invoke_time);
  if (op.outcome != OpOutcome::kInfo) out += ", completed " + std::to_string(op.complete_time);
  return out;
}

std::string explain_violation(const History& history, const CheckResult& result, size_t key_ops,
                              size_t tail_ops) {
  std::string out = "key \"" + result.key.substr(0, 64) +
                    "\" is not linearizable. The longest linearizable prefix holds " +
                    std::to_string(result.longest_prefix.size()) + " of its " +
                    std::to_string(key_ops) + " ops";
  size_t n = result.longest_prefix.size();
  size_t from = n > tail_ops ? n - tail_ops : 0;
  out += from > 0 ? "; it ends with:\n" : (n > 0 ? ":\n" : ".\n");
  for (size_t i = from; i < n; ++i) {
    out += "  " + describe_op(history, result.longest_prefix[i]) + "\n";
  }
  out += "It leaves the state " + result.state_after_prefix + ". Then " +
         describe_op(history, *result.unplaced_op) +
         " could not be placed: it completed while no op invoked by then could take effect "
         "next.";
  return out;
}

}  // namespace

Result<CheckResult> check_linearizability(const History& history, const Model& model,
                                          const CheckOptions& options) {
  MELD_RETURN_IF_ERROR(validate_history(history));

  // Fail ops did not happen and info reads have no effect: neither constrains the search.
  std::unordered_map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (op.outcome == OpOutcome::kFail) continue;
    if (op.outcome == OpOutcome::kInfo && op.function == OpFunction::kRead) continue;
    by_key[op.key].push_back(i);
  }
  std::vector<const std::pair<const std::string, std::vector<size_t>>*> keys;
  keys.reserve(by_key.size());
  for (const auto& entry : by_key) keys.push_back(&entry);
  // Cheap keys first, so that one hard key cannot spend the budget before they are decided.
  std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) {
    if (a->second.size() != b->second.size()) return a->second.size() < b->second.size();
    return a->first < b->first;
  });

  CheckResult result;
  size_t ops_checked = 0;
  for (const auto* key : keys) {
    std::vector<const Op*> all_ops;
    all_ops.reserve(key->second.size());
    for (size_t i : key->second) all_ops.push_back(&history[i]);
    std::vector<bool> redundant = model.redundant_info_ops(all_ops);
    MELD_ASSERT(redundant.size() == all_ops.size(), "redundant_info_ops: one flag per op");
    std::vector<const Op*> ops;
    std::vector<size_t> indices;  // into history, for each op of `ops`
    for (size_t k = 0; k < all_ops.size(); ++k) {
      if (redundant[k]) continue;
      ops.push_back(all_ops[k]);
      indices.push_back(key->second[k]);
    }
    KeySearch search(ops, model);
    KeyResult key_result =
        search.run(options.max_states - result.states_explored, result.states_explored);
    switch (key_result.verdict) {
      case KeyVerdict::kLinearizable:
        ++result.keys_checked;
        ops_checked += ops.size();
        continue;
      case KeyVerdict::kExhausted:
        result.outcome = CheckOutcome::kUnknown;
        result.key = key->first;
        result.explanation =
            "unknown: search budget exhausted after " + std::to_string(result.states_explored) +
            " states on key \"" + key->first.substr(0, 64) + "\" (" + std::to_string(ops.size()) +
            " ops); " + std::to_string(result.keys_checked) + " keys were linearizable before it";
        return result;
      case KeyVerdict::kNotLinearizable:
        result.outcome = CheckOutcome::kNotLinearizable;
        result.key = key->first;
        for (uint32_t local : key_result.longest_prefix) {
          result.longest_prefix.push_back(indices[local]);
        }
        result.unplaced_op = indices[key_result.unplaced];
        result.state_after_prefix = model.describe(key_result.state_after_prefix);
        result.explanation =
            explain_violation(history, result, ops.size(), options.explain_tail_ops);
        return result;
    }
  }
  result.explanation = "linearizable: " + std::to_string(result.keys_checked) + " keys, " +
                       std::to_string(ops_checked) + " ops checked, " +
                       std::to_string(result.states_explored) + " states explored";
  return result;
}

}  // namespace meld::jepsen
