#include "storage/big_set.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/merge_operator.h>

#include <utility>
#include <vector>

#include "crdt/codec.h"
#include "storage/big_set_format.h"
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

char key_tag(std::string_view key) {
  if (key.size() < 3) return '\0';
  size_t name_size = (size_t{static_cast<uint8_t>(key[0])} << 8) | static_cast<uint8_t>(key[1]);
  if (key.size() < 3 + name_size) return '\0';
  char tag = key[2 + name_size];
  if (tag == kContextTag && key.size() == 3 + name_size) return tag;
  return tag == kElementTag ? tag : '\0';
}

}  // namespace big_set_format

namespace {

namespace format = big_set_format;

// meld.big_set_join's finisher: an element value keeps only its elements' dots in its context.
void trim_element_context(std::string_view key, crdt::Value& value) {
  crdt::AwSet* set = value.get<crdt::AwSet>();
  if (set == nullptr || format::key_tag(key) != format::kElementTag) return;
  std::vector<crdt::AwSet::Member> members = set->members();
  crdt::CausalContext dots;
  for (const crdt::AwSet::Member& member : members) {
    for (crdt::Dot dot : member.dots) dots.insert(dot);
  }
  Result<crdt::AwSet> trimmed = crdt::AwSet::from_parts(std::move(members), std::move(dots));
  MELD_ASSERT(trimmed.is_ok(), "trimming a valid AwSet: " + trimmed.status().to_string());
  *set = std::move(trimmed).value();
}

class ReclaimFilter final : public rocksdb::CompactionFilter {
 public:
  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& existing_value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    if (format::key_tag(std::string_view(key.data(), key.size())) != format::kElementTag) {
      return false;
    }
    Result<crdt::AwSet> set =
        crdt::decode<crdt::AwSet>(std::string_view(existing_value.data(), existing_value.size()));
    return set.is_ok() && set->size() == 0;
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
  return new_crdt_join_operator(crdt::DecodeLimits{}, "meld.big_set_join", &trim_element_context);
}

std::shared_ptr<rocksdb::CompactionFilterFactory> new_big_set_compaction_filter_factory() {
  return std::make_shared<ReclaimFilterFactory>();
}

BigSet::BigSet(Engine* engine, std::string name, crdt::ReplicaId replica,
               crdt::CausalContext context)
    : engine_(engine), name_(std::move(name)), replica_(replica), context_(std::move(context)) {}

Result<std::unique_ptr<BigSet>> BigSet::open(Engine* engine, std::string_view name,
                                             crdt::ReplicaId replica) {
  if (name.size() > format::kMaxNameBytes) {
    return Status::invalid_argument("big set name of " + std::to_string(name.size()) +
                                    " bytes is over the limit of " +
                                    std::to_string(format::kMaxNameBytes));
  }
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
  return std::unique_ptr<BigSet>(new BigSet(engine, std::string(name), replica, context));
}

Result<std::set<crdt::Dot>> BigSet::read_dots(std::string_view element) const {
  MELD_RETURN_IF_ERROR(check_element(element));
  Result<std::optional<std::string>> stored =
      engine_->get(Family::kBigSet, format::element_key(name_, element));
  MELD_RETURN_IF_ERROR(stored.status());
  if (!stored->has_value()) return std::set<crdt::Dot>();
  Result<crdt::AwSet> set = crdt::decode<crdt::AwSet>(**stored);
  if (!set.is_ok()) return Status::corruption("big set element: " + set.status().to_string());
  return set->dots(element);
}

Result<bool> BigSet::contains(std::string_view element) const {
  Result<std::set<crdt::Dot>> dots = read_dots(element);
  MELD_RETURN_IF_ERROR(dots.status());
  return !dots->empty();
}

Result<std::set<crdt::Dot>> BigSet::dots(std::string_view element) const {
  return read_dots(element);
}

BigSetDelta BigSet::add_delta(crdt::Dot dot, std::string_view element,
                              const std::set<crdt::Dot>& observed) {
  crdt::CausalContext context;
  for (crdt::Dot d : observed) context.insert(d);
  context.insert(dot);
  std::vector<crdt::AwSet::Member> members{{std::string(element), {dot}}};
  return BigSetDelta{std::string(element), make_set(std::move(members), std::move(context))};
}

void BigSet::stage(const BigSetDelta& delta, WriteBatch& batch, crdt::CausalContext& unseen) const {
  const std::set<crdt::Dot> adds = delta.state.dots(delta.element);
  std::set<crdt::Dot> new_adds;
  crdt::CausalContext operand_context;
  for (crdt::Dot dot : dots_of(delta.state.context())) {
    bool seen = context_.contains(dot);
    if (adds.contains(dot)) {
      if (seen) continue;  // an add already applied (or already removed) here
      new_adds.insert(dot);
    }
    operand_context.insert(dot);
    if (!seen) unseen.insert(dot);
  }
  if (operand_context.empty()) return;
  std::vector<crdt::AwSet::Member> members;
  if (!new_adds.empty()) members.push_back({delta.element, std::move(new_adds)});
  batch.merge(Family::kBigSet, format::element_key(name_, delta.element),
              crdt::encode(make_set(std::move(members), std::move(operand_context))));
}

Status BigSet::commit(WriteBatch batch, crdt::CausalContext unseen,
                      const std::vector<BigSetDelta>& deltas) {
  if (!unseen.empty()) {
    batch.merge(Family::kBigSet, format::context_key(name_),
                crdt::encode(make_set({}, std::move(unseen))));
  }
  if (!batch.empty()) MELD_RETURN_IF_ERROR(engine_->commit_sync(std::move(batch)));
  for (const BigSetDelta& delta : deltas) context_.merge(delta.state.context());
  return Status::ok();
}

Result<BigSetDelta> BigSet::add(std::string_view element) {
  std::lock_guard lock(mu_);
  return add_locked(context_.next_dot(replica_), element);
}

Result<BigSetDelta> BigSet::add(crdt::Dot dot, std::string_view element) {
  MELD_ASSERT(dot.counter != 0, "big set add with the null dot");
  std::lock_guard lock(mu_);
  return add_locked(dot, element);
}

Result<BigSetDelta> BigSet::add_locked(crdt::Dot dot, std::string_view element) {
  MELD_RETURN_IF_ERROR(check_element(element));
  if (context_.contains(dot)) return BigSetDelta{std::string(element), {}};
  Result<std::set<crdt::Dot>> observed = read_dots(element);
  MELD_RETURN_IF_ERROR(observed.status());
  std::vector<BigSetDelta> deltas{add_delta(dot, element, *observed)};
  WriteBatch batch;
  crdt::CausalContext unseen;
  stage(deltas[0], batch, unseen);
  MELD_RETURN_IF_ERROR(commit(std::move(batch), std::move(unseen), deltas));
  return std::move(deltas[0]);
}

Result<std::vector<BigSetDelta>> BigSet::add_all(const std::vector<std::string>& elements) {
  if (elements.size() > kMaxBatchElements) {
    return Status::invalid_argument("big set add_all of " + std::to_string(elements.size()) +
                                    " elements is over the limit of " +
                                    std::to_string(kMaxBatchElements));
  }
  for (const std::string& element : elements) MELD_RETURN_IF_ERROR(check_element(element));
  std::set<std::string_view> distinct(elements.begin(), elements.end());
  std::lock_guard lock(mu_);
  std::vector<BigSetDelta> deltas;
  deltas.reserve(distinct.size());
  crdt::Dot dot = context_.next_dot(replica_);
  WriteBatch batch;
  crdt::CausalContext unseen;
  for (std::string_view element : distinct) {
    Result<std::set<crdt::Dot>> observed = read_dots(element);
    MELD_RETURN_IF_ERROR(observed.status());
    deltas.push_back(add_delta(dot, element, *observed));
    stage(deltas.back(), batch, unseen);
    ++dot.counter;
  }
  MELD_RETURN_IF_ERROR(commit(std::move(batch), std::move(unseen), deltas));
  return deltas;
}

Result<BigSetDelta> BigSet::remove(std::string_view element) {
  std::lock_guard lock(mu_);
  return remove_locked(std::nullopt, element);
}

Result<BigSetDelta> BigSet::remove(crdt::Dot dot, std::string_view element) {
  MELD_ASSERT(dot.counter != 0, "big set remove with the null dot");
  std::lock_guard lock(mu_);
  return remove_locked(dot, element);
}

Result<BigSetDelta> BigSet::remove_locked(std::optional<crdt::Dot> dot, std::string_view element) {
  MELD_RETURN_IF_ERROR(check_element(element));
  if (dot.has_value() && context_.contains(*dot)) return BigSetDelta{std::string(element), {}};
  Result<std::set<crdt::Dot>> observed = read_dots(element);
  MELD_RETURN_IF_ERROR(observed.status());
  crdt::CausalContext context;
  for (crdt::Dot d : *observed) context.insert(d);
  if (dot.has_value()) context.insert(*dot);
  std::vector<BigSetDelta> deltas{BigSetDelta{std::string(element), make_set({}, context)}};
  WriteBatch batch;
  crdt::CausalContext unseen;
  stage(deltas[0], batch, unseen);
  MELD_RETURN_IF_ERROR(commit(std::move(batch), std::move(unseen), deltas));
  return std::move(deltas[0]);
}

Status BigSet::merge(const BigSetDelta& delta) {
  MELD_RETURN_IF_ERROR(check_element(delta.element));
  if (delta.state.size() > (delta.state.contains(delta.element) ? 1 : 0)) {
    return Status::invalid_argument("big set delta for one element holds another");
  }
  if (dot_count(delta.state.context()) > kMaxDeltaDots) {
    return Status::invalid_argument("big set delta names over " + std::to_string(kMaxDeltaDots) +
                                    " dots");
  }
  std::lock_guard lock(mu_);
  WriteBatch batch;
  crdt::CausalContext unseen;
  stage(delta, batch, unseen);
  return commit(std::move(batch), std::move(unseen), {delta});
}

crdt::CausalContext BigSet::context() const {
  std::lock_guard lock(mu_);
  return context_;
}

BigSet::Cursor BigSet::members() const {
  std::string prefix = format::element_prefix(name_);
  return Cursor(engine_, prefix, prefix);
}

BigSet::Cursor::Cursor(Engine* engine, std::string start, std::string prefix)
    : engine_(engine), next_start_(std::move(start)), prefix_(std::move(prefix)) {
  // Element keys are prefix_ + element: the range ends where the tag byte would be one more.
  end_ = prefix_;
  end_.back() = static_cast<char>(end_.back() + 1);
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
    Result<crdt::AwSet> set = crdt::decode<crdt::AwSet>(value);
    if (!set.is_ok()) return Status::corruption("big set element: " + set.status().to_string());
    std::string_view element = std::string_view(key).substr(prefix_.size());
    std::set<crdt::Dot> dots = set->dots(element);
    if (dots.empty()) continue;  // removed, not yet reclaimed
    out->element = std::string(element);
    out->dots = std::move(dots);
    return true;
  }
}

}  // namespace meld::storage
