#include "storage/big_set.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/env.h>
#include <rocksdb/merge_operator.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <optional>
#include <utility>
#include <vector>

#include "crdt/codec.h"
#include "storage/big_set_format.h"
#include "storage/big_set_value.h"
#include "storage/crdt_join.h"

namespace meld::storage {
namespace big_set_format {

namespace {
std::string name_prefix(std::string_view name) {
  MELD_ASSERT(name.size() <= kMaxNameBytes, "big set name over the limit");
  std::string key;
  key.push_back(static_cast<char>(name.size() >> 8));
  key.push_back(static_cast<char>(name.size() & 0xff));
  key.append(name);
  return key;
}
}  // namespace

std::string context_key(std::string_view name) {
  return name_prefix(name) + kContextTag;
}

std::string element_prefix(std::string_view name) {
  return name_prefix(name) + kElementTag;
}

std::string element_key(std::string_view name, std::string_view element) {
  std::string key = element_prefix(name);
  key.append(element);
  return key;
}

std::string version_key() {
  return name_prefix("") + kVersionTag;
}

std::string version_value() {
  std::string value;
  for (int shift = 24; shift >= 0; shift -= 8) {
    value.push_back(static_cast<char>((kLayoutVersion >> shift) & 0xff));
  }
  return value;
}

char key_tag(std::string_view key) {
  if (key.size() < 3) return '\0';
  size_t name_size = (size_t{static_cast<uint8_t>(key[0])} << 8) | static_cast<uint8_t>(key[1]);
  if (key.size() < 3 + name_size) return '\0';
  char tag = key[2 + name_size];
  if (tag == kContextTag && key.size() == 3 + name_size) return tag;
  if (tag == kVersionTag && key.size() == 3 && name_size == 0) return tag;
  return tag == kElementTag ? tag : '\0';
}

Status validate_value(std::string_view key, std::string_view value) {
  switch (key_tag(key)) {
    case kElementTag:
      return decode_element_value(value).status();
    case kVersionTag:
      if (value.size() != 4) {
        return Status::corruption("big set layout version of " + std::to_string(value.size()) +
                                  " bytes, not 4");
      }
      return Status::ok();
    default:
      return crdt::decode<crdt::Value>(value).status();
  }
}

}  // namespace big_set_format

namespace {

namespace format = big_set_format;

std::string_view view(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

bool is_element_key(const rocksdb::Slice& key) {
  return format::key_tag(view(key)) == format::kElementTag;
}

// Joins the element operands into *acc (nullopt: the first one sets it). False when one does not
// decode.
template <typename Operands>
bool join_element_operands(const Operands& operands, std::optional<format::ElementState>* acc) {
  for (const rocksdb::Slice& operand : operands) {
    Result<format::ElementState> state = format::decode_element_value(view(operand));
    if (!state.is_ok()) return false;
    if (acc->has_value()) {
      **acc = format::join_element_states(**acc, *state);
    } else {
      acc->emplace(std::move(state).value());
    }
  }
  return true;
}

class BigSetJoinOperator final : public rocksdb::MergeOperator {
 public:
  BigSetJoinOperator() : crdt_(new_crdt_join_operator(crdt::DecodeLimits{})) {}

  const char* Name() const override { return "meld.big_set_join"; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    if (!is_element_key(in.key)) return crdt_->FullMergeV2(in, out);
    std::optional<format::ElementState> acc;
    if (in.existing_value != nullptr) {
      Result<format::ElementState> base = format::decode_element_value(view(*in.existing_value));
      if (base.is_ok()) {
        acc.emplace(std::move(base).value());
      } else {
        rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, in.logger,
                     "meld.big_set_join: replacing a %zu-byte base value: %s",
                     in.existing_value->size(), base.status().to_string().c_str());
      }
    }
    if (!join_element_operands(in.operand_list, &acc) || !acc.has_value()) return false;
    format::trim_element_state(*acc);
    out->new_value = format::encode_element_value(*acc);
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* logger) const override {
    if (!is_element_key(key)) return crdt_->PartialMergeMulti(key, operands, new_value, logger);
    std::optional<format::ElementState> acc;
    if (!join_element_operands(operands, &acc) || !acc.has_value()) return false;
    *new_value = format::encode_element_value(*acc);
    return true;
  }

 private:
  std::shared_ptr<rocksdb::MergeOperator> crdt_;
};

class ReclaimFilter final : public rocksdb::CompactionFilter {
 public:
  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& existing_value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    if (!is_element_key(key)) return false;
    Result<format::ElementState> state = format::decode_element_value(view(existing_value));
    return state.is_ok() && state->dots.empty();
  }
  const char* Name() const override { return "meld.big_set_reclaim"; }
};

class ReclaimFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& /*context*/) override {
    return std::make_unique<ReclaimFilter>();
  }
  const char* Name() const override { return "meld.big_set_reclaim"; }
};

Status check_element(std::string_view element) {
  if (element.size() > BigSet::kMaxElementBytes) {
    return Status::invalid_argument("big set element of " + std::to_string(element.size()) +
                                    " bytes is over the limit of " +
                                    std::to_string(BigSet::kMaxElementBytes));
  }
  return Status::ok();
}

// An element key's stored dots (a stored value's context is its dots).
Result<std::vector<crdt::Dot>> decode_dots(std::string_view stored) {
  Result<format::ElementState> state = format::decode_element_value(stored);
  MELD_RETURN_IF_ERROR(state.status());
  return std::move(state->dots);
}

// Refuses a big_set family of another layout version; records the version in an empty one.
Status check_layout(Engine* engine) {
  const std::string key = format::version_key();
  Result<std::optional<std::string>> version = engine->get(Family::kBigSet, key);
  MELD_RETURN_IF_ERROR(version.status());
  if (!version->has_value()) {
    // The version key sorts first: any other first key is data of an unversioned layout.
    std::vector<std::pair<std::string, std::string>> first;
    bool more = false;
    MELD_RETURN_IF_ERROR(engine->scan(Family::kBigSet, "", "", 1, &first, &more));
    if (first.empty()) {
      WriteBatch batch;
      batch.put(Family::kBigSet, key, format::version_value());
      return engine->commit_sync(std::move(batch));
    }
    return Status::invalid_argument(
        "the big_set family holds sets of layout version 1 (no layout version key); this build "
        "reads layout version " +
        std::to_string(format::kLayoutVersion) +
        " only (pre-release, no migration): start from an empty data directory");
  }
  if (**version != format::version_value()) {
    return Status::invalid_argument(
        "the big_set family has another layout version than this build's " +
        std::to_string(format::kLayoutVersion) + " (pre-release, no migration)");
  }
  return Status::ok();
}

// Every dot of context, in order; at most limit of them (the caller checked the count).
std::vector<crdt::Dot> dots_of(const crdt::CausalContext& context) {
  std::vector<crdt::Dot> dots;
  for (const auto& [replica, n] : context.vector()) {
    for (uint64_t i = 1; i <= n; ++i) dots.push_back(crdt::Dot{replica, i});
  }
  dots.insert(dots.end(), context.cloud().begin(), context.cloud().end());
  return dots;
}

uint64_t dot_count(const crdt::CausalContext& context) {
  uint64_t count = context.cloud().size();
  for (const auto& [replica, n] : context.vector()) {
    count += n;
    if (count < n) return UINT64_MAX;
  }
  return count;
}

crdt::AwSet make_set(std::vector<crdt::AwSet::Member> members, crdt::CausalContext context) {
  Result<crdt::AwSet> set = crdt::AwSet::from_parts(std::move(members), std::move(context));
  MELD_ASSERT(set.is_ok(), "building a big set delta: " + set.status().to_string());
  return std::move(set).value();
}

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> new_big_set_merge_operator() {
  return std::make_shared<BigSetJoinOperator>();
}

std::shared_ptr<rocksdb::CompactionFilterFactory> new_big_set_compaction_filter_factory() {
  return std::make_shared<ReclaimFilterFactory>();
}

struct BigSet::Completions {
  std::mutex mu;
  std::condition_variable idle;
  uint64_t completed_through = 0;      // every batch numbered up to this one completed
  std::set<uint64_t> completed_ahead;  // completed batches past completed_through
  uint64_t in_flight = 0;
  Status failure;  // the first failed commit: it poisons the set

  void complete(uint64_t batch, const Status& status) {
    std::lock_guard lock(mu);
    if (!status.is_ok() && failure.is_ok()) {
      failure = Status(status.code(),
                       "big set poisoned by a failed commit (reopen it): " + status.message());
    }
    completed_ahead.insert(batch);
    while (!completed_ahead.empty() && *completed_ahead.begin() == completed_through + 1) {
      completed_ahead.erase(completed_ahead.begin());
      ++completed_through;
    }
    MELD_ASSERT(in_flight > 0, "big set batch completed twice");
    if (--in_flight == 0) idle.notify_all();
  }
};

BigSet::BigSet(Engine* engine, std::string name, crdt::ReplicaId replica,
               crdt::CausalContext context)
    : engine_(engine),
      name_(std::move(name)),
      replica_(replica),
      completions_(std::make_shared<Completions>()),
      context_(std::move(context)) {}

Result<std::unique_ptr<BigSet>> BigSet::open(Engine* engine, std::string_view name,
                                             crdt::ReplicaId replica) {
  if (name.size() > format::kMaxNameBytes) {
    return Status::invalid_argument("big set name of " + std::to_string(name.size()) +
                                    " bytes is over the limit of " +
                                    std::to_string(format::kMaxNameBytes));
  }
  MELD_RETURN_IF_ERROR(check_layout(engine));
  Result<std::optional<std::string>> stored =
      engine->get(Family::kBigSet, format::context_key(name));
  MELD_RETURN_IF_ERROR(stored.status());
  crdt::CausalContext context;
  if (stored->has_value()) {
    Result<crdt::AwSet> set = crdt::decode<crdt::AwSet>(**stored);
    if (!set.is_ok()) {
      return Status::corruption("causal context of big set: " + set.status().to_string());
    }
    context = set->context();
  }
  // This replica's dots are issued here only and committed in queue order, so one of them
  // missing below the largest one recorded belongs to a batch whose commit failed while a later
  // batch, already queued, committed (see "Failure" in the header). No replica holds it. Left
  // out, the version vector would never pass the gap and every later dot of this replica would
  // stay in the dot cloud, in memory and on disk, for good; recorded as seen, it costs nothing.
  const bool own_gap = std::any_of(context.cloud().begin(), context.cloud().end(),
                                   [replica](crdt::Dot dot) { return dot.replica == replica; });
  if (own_gap) {
    Result<crdt::CausalContext> own =
        crdt::CausalContext::from_parts({{replica, context.next_dot(replica).counter - 1}}, {});
    MELD_ASSERT(own.is_ok(), "a one-entry version vector: " + own.status().to_string());
    WriteBatch batch;
    batch.merge(Family::kBigSet, format::context_key(name), crdt::encode(make_set({}, *own)));
    MELD_RETURN_IF_ERROR(engine->commit_sync(std::move(batch)));
    context.merge(*own);
  }
  return std::unique_ptr<BigSet>(new BigSet(engine, std::string(name), replica, context));
}

Result<std::vector<crdt::Dot>> BigSet::read_element(std::string_view element) const {
  MELD_RETURN_IF_ERROR(check_element(element));
  Result<std::optional<std::string>> stored =
      engine_->get(Family::kBigSet, format::element_key(name_, element));
  MELD_RETURN_IF_ERROR(stored.status());
  if (!stored->has_value()) return std::vector<crdt::Dot>();
  return decode_dots(**stored);
}

Result<bool> BigSet::contains(std::string_view element) const {
  Result<std::vector<crdt::Dot>> dots = read_element(element);
  MELD_RETURN_IF_ERROR(dots.status());
  return !dots->empty();
}

Result<std::vector<bool>> BigSet::contains_all(std::span<const std::string_view> elements) const {
  if (elements.size() > kMaxBatchElements) {
    return Status::invalid_argument("big set contains_all of " + std::to_string(elements.size()) +
                                    " elements is over the limit of " +
                                    std::to_string(kMaxBatchElements));
  }
  std::vector<std::string> keys;
  keys.reserve(elements.size());
  for (std::string_view element : elements) {
    MELD_RETURN_IF_ERROR(check_element(element));
    keys.push_back(format::element_key(name_, element));
  }
  Result<std::vector<std::optional<std::string>>> stored =
      engine_->multi_get(Family::kBigSet, keys);
  MELD_RETURN_IF_ERROR(stored.status());
  std::vector<bool> present(elements.size(), false);
  for (size_t i = 0; i < elements.size(); ++i) {
    if (!(*stored)[i].has_value()) continue;
    Result<std::vector<crdt::Dot>> dots = decode_dots(*(*stored)[i]);
    MELD_RETURN_IF_ERROR(dots.status());
    present[i] = !dots->empty();
  }
  return present;
}

Result<std::set<crdt::Dot>> BigSet::dots(std::string_view element) const {
  Result<std::vector<crdt::Dot>> dots = read_element(element);
  MELD_RETURN_IF_ERROR(dots.status());
  return std::set<crdt::Dot>(dots->begin(), dots->end());
}

Status BigSet::begin_locked() {
  uint64_t completed_through = 0;
  {
    std::lock_guard lock(completions_->mu);
    MELD_RETURN_IF_ERROR(completions_->failure);
    completed_through = completions_->completed_through;
  }
  // Operands leave the overlay in queue order only: reapplying a committed operand on top of
  // the stored dots is harmless only when every later operand is reapplied after it.
  while (!in_flight_batches_.empty() && in_flight_batches_.front().first <= completed_through) {
    for (const std::string& element : in_flight_batches_.front().second) {
      // Gone when an earlier batch's entry already dropped this one's operands of it.
      auto it = in_flight_ops_.find(element);
      if (it == in_flight_ops_.end()) continue;
      while (!it->second.empty() && it->second.front().batch <= completed_through) {
        it->second.pop_front();
      }
      if (it->second.empty()) in_flight_ops_.erase(it);
    }
    in_flight_batches_.pop_front();
  }
  return Status::ok();
}

namespace {
void apply_operand(const std::set<crdt::Dot>& adds, const std::set<crdt::Dot>& context,
                   std::set<crdt::Dot>& dots) {
  std::erase_if(dots, [&](crdt::Dot d) { return context.contains(d); });
  dots.insert(adds.begin(), adds.end());
}
}  // namespace

Result<std::set<crdt::Dot>> BigSet::current_dots(std::string_view element,
                                                 const Staged& staged) const {
  Result<std::set<crdt::Dot>> current = dots(element);
  MELD_RETURN_IF_ERROR(current.status());
  if (auto it = in_flight_ops_.find(element); it != in_flight_ops_.end()) {
    for (const Operand& op : it->second) apply_operand(op.adds, op.context, *current);
  }
  if (auto it = staged.ops.find(element); it != staged.ops.end()) {
    for (const Operand& op : it->second) apply_operand(op.adds, op.context, *current);
  }
  return current;
}

bool BigSet::seen_locked(crdt::Dot dot, const Staged& staged) const {
  return context_.contains(dot) || staged.context.contains(dot);
}

BigSetDelta BigSet::add_delta(crdt::Dot dot, std::string_view element,
                              const std::set<crdt::Dot>& observed) {
  crdt::CausalContext context;
  for (crdt::Dot d : observed) context.insert(d);
  context.insert(dot);
  std::vector<crdt::AwSet::Member> members{{std::string(element), {dot}}};
  return BigSetDelta{std::string(element), make_set(std::move(members), std::move(context))};
}

void BigSet::stage(const BigSetDelta& delta, Staged& staged) const {
  const std::set<crdt::Dot> adds = delta.state.dots(delta.element);
  Operand op;
  for (crdt::Dot dot : dots_of(delta.state.context())) {
    if (adds.contains(dot)) {
      if (seen_locked(dot, staged)) continue;  // an add already applied (or already removed) here
      op.adds.insert(dot);
    }
    op.context.insert(dot);
  }
  if (op.context.empty()) return;
  for (crdt::Dot dot : op.context) staged.context.insert(dot);
  format::ElementState operand{std::vector<crdt::Dot>(op.adds.begin(), op.adds.end()),
                               std::vector<crdt::Dot>(op.context.begin(), op.context.end())};
  staged.batch.merge(Family::kBigSet, format::element_key(name_, delta.element),
                     format::encode_element_value(operand));
  auto it = staged.ops.find(delta.element);
  if (it == staged.ops.end()) it = staged.ops.emplace(delta.element, std::vector<Operand>()).first;
  it->second.push_back(std::move(op));
  ++staged.operands;
}

Result<BigSetDelta> BigSet::stage_update(const BigSetUpdate& update, Staged& staged) {
  const std::string& element = update.element;
  if (update.dot.has_value() && seen_locked(*update.dot, staged)) return BigSetDelta{element, {}};
  Result<std::set<crdt::Dot>> observed = current_dots(element, staged);
  MELD_RETURN_IF_ERROR(observed.status());
  BigSetDelta delta;
  if (update.remove) {
    crdt::CausalContext context;
    for (crdt::Dot d : *observed) context.insert(d);
    if (update.dot.has_value()) context.insert(*update.dot);
    delta = BigSetDelta{element, make_set({}, std::move(context))};
  } else {
    crdt::Dot dot;
    if (update.dot.has_value()) {
      dot = *update.dot;
    } else {
      // This replica's next dot, past the dots of this batch too.
      dot = std::max(context_.next_dot(replica_), staged.context.next_dot(replica_));
    }
    delta = add_delta(dot, element, *observed);
  }
  stage(delta, staged);
  return delta;
}

Result<bool> BigSet::submit_locked(Staged staged, std::function<void(Status)> done) {
  if (!staged.context.empty()) {
    staged.batch.merge(Family::kBigSet, format::context_key(name_),
                       crdt::encode(make_set({}, staged.context)));
  }
  if (staged.batch.empty()) return false;
  {
    std::lock_guard lock(completions_->mu);
    if (completions_->in_flight >= kMaxInFlightBatches) {
      return Status::resource_exhausted("big set has " + std::to_string(kMaxInFlightBatches) +
                                        " batches in flight, the limit");
    }
    ++completions_->in_flight;
  }
  const uint64_t batch = next_batch_;
  Status queued = engine_->commit(std::move(staged.batch), [completions = completions_, batch,
                                                            done = std::move(done)](Status status) {
    completions->complete(batch, status);
    done(std::move(status));
  });
  if (!queued.is_ok()) {
    std::lock_guard lock(completions_->mu);
    --completions_->in_flight;
    if (completions_->in_flight == 0) completions_->idle.notify_all();
    return queued;
  }
  ++next_batch_;
  context_.merge(staged.context);
  std::vector<std::string> elements;
  elements.reserve(staged.ops.size());
  for (auto& [element, ops] : staged.ops) {
    auto it = in_flight_ops_.find(element);
    if (it == in_flight_ops_.end()) {
      it = in_flight_ops_.emplace(element, std::deque<Operand>()).first;
    }
    for (Operand& op : ops) {
      op.batch = batch;
      it->second.push_back(std::move(op));
    }
    elements.push_back(element);
  }
  in_flight_batches_.emplace_back(batch, std::move(elements));
  return true;
}

Status BigSet::apply_async(std::vector<BigSetUpdate> updates, DeltasDone done) {
  if (updates.size() > kMaxBatchElements) {
    return Status::invalid_argument("big set batch of " + std::to_string(updates.size()) +
                                    " updates is over the limit of " +
                                    std::to_string(kMaxBatchElements));
  }
  for (const BigSetUpdate& update : updates) {
    MELD_RETURN_IF_ERROR(check_element(update.element));
    if (update.dot.has_value() && update.dot->counter == 0) {
      return Status::invalid_argument("big set update with the null dot (counter 0)");
    }
  }
  std::unique_lock lock(mu_);
  MELD_RETURN_IF_ERROR(begin_locked());
  Staged staged;
  auto deltas = std::make_shared<std::vector<BigSetDelta>>();
  deltas->reserve(updates.size());
  for (const BigSetUpdate& update : updates) {
    Result<BigSetDelta> delta = stage_update(update, staged);
    MELD_RETURN_IF_ERROR(delta.status());
    deltas->push_back(std::move(delta).value());
  }
  Result<bool> queued = submit_locked(std::move(staged), [deltas, done](Status status) mutable {
    if (status.is_ok()) {
      done(std::move(*deltas));
    } else {
      done(std::move(status));
    }
  });
  MELD_RETURN_IF_ERROR(queued.status());
  if (!*queued) {
    lock.unlock();
    done(std::move(*deltas));
  }
  return Status::ok();
}

Status BigSet::merge_async(const BigSetDelta& delta, std::function<void(Status)> done) {
  MELD_RETURN_IF_ERROR(check_element(delta.element));
  if (delta.state.size() > (delta.state.contains(delta.element) ? 1 : 0)) {
    return Status::invalid_argument("big set delta for one element holds another");
  }
  if (dot_count(delta.state.context()) > kMaxDeltaDots) {
    return Status::invalid_argument("big set delta names over " + std::to_string(kMaxDeltaDots) +
                                    " dots");
  }
  std::unique_lock lock(mu_);
  MELD_RETURN_IF_ERROR(begin_locked());
  Staged staged;
  stage(delta, staged);
  Result<bool> queued = submit_locked(std::move(staged), done);
  MELD_RETURN_IF_ERROR(queued.status());
  if (!*queued) {
    lock.unlock();
    done(Status::ok());
  }
  return Status::ok();
}

// The waiters below share the promise with the callback: the callback may still be inside
// set_value() when the waiter returns.
Result<std::vector<BigSetDelta>> BigSet::apply(std::vector<BigSetUpdate> updates) {
  auto result = std::make_shared<std::promise<Result<std::vector<BigSetDelta>>>>();
  std::future<Result<std::vector<BigSetDelta>>> future = result->get_future();
  MELD_RETURN_IF_ERROR(apply_async(
      std::move(updates),
      [result](Result<std::vector<BigSetDelta>> deltas) { result->set_value(std::move(deltas)); }));
  return future.get();
}

Status BigSet::merge(const BigSetDelta& delta) {
  auto result = std::make_shared<std::promise<Status>>();
  std::future<Status> future = result->get_future();
  MELD_RETURN_IF_ERROR(
      merge_async(delta, [result](Status status) { result->set_value(std::move(status)); }));
  return future.get();
}

namespace {
Result<BigSetDelta> single(Result<std::vector<BigSetDelta>> deltas) {
  MELD_RETURN_IF_ERROR(deltas.status());
  MELD_ASSERT(deltas->size() == 1, "one update gave " + std::to_string(deltas->size()) + " deltas");
  return std::move(deltas->front());
}
}  // namespace

Result<BigSetDelta> BigSet::add(std::string_view element) {
  return single(apply({BigSetUpdate{std::string(element), false, std::nullopt}}));
}

Result<BigSetDelta> BigSet::add(crdt::Dot dot, std::string_view element) {
  return single(apply({BigSetUpdate{std::string(element), false, dot}}));
}

Result<BigSetDelta> BigSet::remove(std::string_view element) {
  return single(apply({BigSetUpdate{std::string(element), true, std::nullopt}}));
}

Result<BigSetDelta> BigSet::remove(crdt::Dot dot, std::string_view element) {
  return single(apply({BigSetUpdate{std::string(element), true, dot}}));
}

Result<std::vector<BigSetDelta>> BigSet::add_all(const std::vector<std::string>& elements) {
  if (elements.size() > kMaxBatchElements) {
    return Status::invalid_argument("big set add_all of " + std::to_string(elements.size()) +
                                    " elements is over the limit of " +
                                    std::to_string(kMaxBatchElements));
  }
  std::set<std::string_view> distinct(elements.begin(), elements.end());
  std::vector<BigSetUpdate> updates;
  updates.reserve(distinct.size());
  for (std::string_view element : distinct) {
    updates.push_back(BigSetUpdate{std::string(element), false, std::nullopt});
  }
  return apply(std::move(updates));
}

Status BigSet::commit_locked(Staged staged) {
  auto result = std::make_shared<std::promise<Status>>();
  std::future<Status> future = result->get_future();
  Result<bool> queued = submit_locked(
      std::move(staged), [result](Status status) { result->set_value(std::move(status)); });
  MELD_RETURN_IF_ERROR(queued.status());
  if (*queued) MELD_RETURN_IF_ERROR(future.get());
  return begin_locked();
}

Status BigSet::merge_state(const crdt::AwSet& remote) {
  const std::vector<crdt::AwSet::Member> remote_members = remote.members();
  for (const auto& [element, element_dots] : remote_members) {
    MELD_RETURN_IF_ERROR(check_element(element));
  }
  std::lock_guard lock(mu_);
  {
    // With nothing in flight, the stored members are the set: the stream below needs no overlay.
    std::unique_lock done_lock(completions_->mu);
    completions_->idle.wait(done_lock, [this] { return completions_->in_flight == 0; });
  }
  MELD_RETURN_IF_ERROR(begin_locked());
  const crdt::CausalContext& covered = remote.context();
  // Remote elements: their dots, and the local dots of them the remote saw and dropped.
  Staged staged;
  for (const auto& [element, remote_dots] : remote_members) {
    Result<std::set<crdt::Dot>> local = current_dots(element, staged);
    MELD_RETURN_IF_ERROR(local.status());
    crdt::CausalContext context;
    for (crdt::Dot d : remote_dots) context.insert(d);
    for (crdt::Dot d : *local) {
      if (covered.contains(d)) context.insert(d);
    }
    std::vector<crdt::AwSet::Member> one{{element, remote_dots}};
    stage(BigSetDelta{element, make_set(std::move(one), std::move(context))}, staged);
    if (staged.operands >= kScanPageEntries) {
      MELD_RETURN_IF_ERROR(commit_locked(std::move(staged)));
      staged = Staged();
    }
  }
  // Local elements the remote lacks: the dots of them its context covers were removed there.
  Cursor cursor = members();
  Member member;
  while (true) {
    Result<bool> more = cursor.next(&member);
    MELD_RETURN_IF_ERROR(more.status());
    if (!*more) break;
    if (remote.contains(member.element)) continue;
    crdt::CausalContext removed;
    for (crdt::Dot d : member.dots) {
      if (covered.contains(d)) removed.insert(d);
    }
    if (removed.empty()) continue;
    stage(BigSetDelta{member.element, make_set({}, std::move(removed))}, staged);
    if (staged.operands >= kScanPageEntries) {
      MELD_RETURN_IF_ERROR(commit_locked(std::move(staged)));
      staged = Staged();
    }
  }
  // Last, the remote context: recorded earlier, it would have filtered out the remote's adds.
  staged.context.merge(covered);
  return commit_locked(std::move(staged));
}

crdt::CausalContext BigSet::context() const {
  std::lock_guard lock(mu_);
  return context_;
}

bool BigSet::seen(crdt::Dot dot) const {
  std::lock_guard lock(mu_);
  return context_.contains(dot);
}

size_t BigSet::out_of_order_dots() const {
  std::lock_guard lock(mu_);
  return context_.cloud().size();
}

size_t BigSet::in_flight() const {
  std::lock_guard lock(completions_->mu);
  return completions_->in_flight;
}

Status BigSet::failure() const {
  std::lock_guard lock(completions_->mu);
  return completions_->failure;
}

BigSet::Cursor BigSet::members() const {
  std::string prefix = format::element_prefix(name_);
  return Cursor(engine_, prefix, prefix);
}

BigSet::Cursor BigSet::members_after(std::string_view after) const {
  std::string prefix = format::element_prefix(name_);
  std::string start = prefix;
  start.append(after);
  start.push_back('\0');
  return Cursor(engine_, std::move(start), std::move(prefix));
}

BigSet::Cursor::Cursor(Engine* engine, std::string start, std::string prefix)
    : engine_(engine), next_start_(std::move(start)), prefix_(std::move(prefix)) {
  // Element keys are prefix_ + element.
  end_ = prefix_successor(prefix_);
}

Result<bool> BigSet::Cursor::next(Member* out) {
  while (true) {
    if (pos_ == page_.size()) {
      if (!more_) return false;
      MELD_RETURN_IF_ERROR(
          engine_->scan(Family::kBigSet, next_start_, end_, kScanPageEntries, &page_, &more_));
      pos_ = 0;
      if (page_.empty()) return false;
      next_start_ = page_.back().first;
      next_start_.push_back('\0');
    }
    const auto& [key, value] = page_[pos_++];
    Result<std::vector<crdt::Dot>> dots = decode_dots(value);
    MELD_RETURN_IF_ERROR(dots.status());
    if (dots->empty()) continue;  // removed, not yet reclaimed
    out->element = key.substr(prefix_.size());
    out->dots = std::set<crdt::Dot>(dots->begin(), dots->end());
    return true;
  }
}

}  // namespace meld::storage
