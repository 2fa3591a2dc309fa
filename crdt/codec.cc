#include "crdt/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/crdt.capnp.h"

namespace meld::crdt {
namespace {

// Cap'n Proto nesting per map level: Value -> Map -> List(Entry) -> Entry -> Value, and a little
// more below a leaf value.
constexpr int kNestingPerMapLevel = 4;
constexpr int kNestingBelowLeaf = 6;

capnp::Data::Reader bytes_of(std::string_view s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

void build_dot(schema::Dot::Builder b, Dot dot) {
  b.setReplica(dot.replica);
  b.setCounter(dot.counter);
}

template <typename Dots>
void build_dots(capnp::List<schema::Dot>::Builder list, const Dots& dots) {
  unsigned i = 0;
  for (Dot dot : dots) build_dot(list[i++], dot);
}

void build_context(schema::CausalContext::Builder b, const CausalContext& cc) {
  auto vector = b.initVector(cc.vector().size());
  unsigned i = 0;
  for (const auto& [replica, n] : cc.vector()) build_dot(vector[i++], Dot{replica, n});
  build_dots(b.initCloud(cc.cloud().size()), cc.cloud());
}

template <typename Amount>
void build_counter(schema::Counter::Builder b, const DotCounter<Amount>& c) {
  auto prefixes = b.initPrefixes(c.prefixes().size());
  unsigned i = 0;
  for (const auto& [replica, prefix] : c.prefixes()) {
    prefixes[i].setReplica(replica);
    prefixes[i].setCounter(prefix.counter);
    prefixes[i].setSum(prefix.sum);
    ++i;
  }
  auto pending = b.initPending(c.pending().size());
  i = 0;
  for (const auto& [dot, amount] : c.pending()) {
    build_dot(pending[i].initDot(), dot);
    pending[i].setAmount(static_cast<uint64_t>(amount));
    ++i;
  }
}

void build_aw_set(schema::AwSet::Builder b, const AwSet& s) {
  auto entries = b.initEntries(s.size());
  unsigned i = 0;
  s.for_each_ordered([&](std::string_view element, std::span<const Dot> dots) {
    entries[i].setElement(bytes_of(element));
    build_dots(entries[i].initDots(dots.size()), dots);
    ++i;
  });
  build_context(b.initContext(), s.context());
}

void build_rw_set(schema::RwSet::Builder b, const RwSet& s) {
  auto entries = b.initEntries(s.entries().size());
  unsigned i = 0;
  for (const auto& [element, tokens] : s.entries()) {
    entries[i].setElement(bytes_of(element));
    auto list = entries[i].initTokens(tokens.size());
    unsigned j = 0;
    for (const auto& [dot, is_add] : tokens) {
      build_dot(list[j].initDot(), dot);
      list[j].setAdd(is_add);
      ++j;
    }
    ++i;
  }
  build_context(b.initContext(), s.context());
}

void build_lww(schema::LwwRegister::Builder b, const LwwRegister& r) {
  auto ts = b.initTimestamp();
  ts.setPhysicalMs(r.timestamp().physical_ms);
  ts.setLogical(r.timestamp().logical);
  ts.setNode(r.timestamp().node);
  b.setValue(bytes_of(r.value()));
}

void build_mv(schema::MvRegister::Builder b, const MvRegister& r) {
  auto entries = b.initEntries(r.entries().size());
  unsigned i = 0;
  for (const auto& [dot, value] : r.entries()) {
    build_dot(entries[i].initDot(), dot);
    entries[i].setValue(bytes_of(value));
    ++i;
  }
  build_context(b.initContext(), r.context());
}

void build_value(schema::Value::Builder b, const Value& v);

void build_map(schema::Map::Builder b, const OrMap& m) {
  auto keys = b.initKeys(m.keys().size());
  unsigned i = 0;
  for (const auto& [key, dots] : m.keys()) {
    keys[i].setName(bytes_of(key.name));
    keys[i].setKind(static_cast<schema::Kind>(key.kind));
    build_dots(keys[i].initDots(dots.size()), dots);
    ++i;
  }
  build_context(b.initContext(), m.context());
  auto values = b.initValues(m.values().size());
  i = 0;
  for (const auto& [key, value] : m.values()) {
    values[i].setName(bytes_of(key.name));
    build_value(values[i].initValue(), value);
    ++i;
  }
}

void build_value(schema::Value::Builder b, const Value& v) {
  std::visit(
      [&b](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, GCounter>) build_counter(b.initGCounter(), x);
        if constexpr (std::is_same_v<T, PnCounter>) build_counter(b.initPnCounter(), x);
        if constexpr (std::is_same_v<T, AwSet>) build_aw_set(b.initAwSet(), x);
        if constexpr (std::is_same_v<T, RwSet>) build_rw_set(b.initRwSet(), x);
        if constexpr (std::is_same_v<T, LwwRegister>) build_lww(b.initLwwRegister(), x);
        if constexpr (std::is_same_v<T, MvRegister>) build_mv(b.initMvRegister(), x);
        if constexpr (std::is_same_v<T, OrMap>) build_map(b.initMap(), x);
      },
      v.variant());
}

template <typename Fill>
std::string encode_message(Fill fill) {
  capnp::MallocMessageBuilder message;
  fill(message.initRoot<schema::Value>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Reads one message's worth of values, counting entries against the limits.
class Reader {
 public:
  explicit Reader(const DecodeLimits& limits) : limits_(limits) {}

  Result<Value> value(schema::Value::Reader r, int map_depth) {
    switch (r.which()) {
      case schema::Value::G_COUNTER:
        return wrap(counter<uint64_t>(r.getGCounter()));
      case schema::Value::PN_COUNTER:
        return wrap(counter<int64_t>(r.getPnCounter()));
      case schema::Value::AW_SET:
        return wrap(aw_set(r.getAwSet()));
      case schema::Value::RW_SET:
        return wrap(rw_set(r.getRwSet()));
      case schema::Value::LWW_REGISTER:
        return wrap(lww(r.getLwwRegister()));
      case schema::Value::MV_REGISTER:
        return wrap(mv(r.getMvRegister()));
      case schema::Value::MAP:
        if (map_depth + 1 > limits_.max_map_depth) {
          return Status::resource_exhausted("crdt: maps nested deeper than " +
                                            std::to_string(limits_.max_map_depth));
        }
        return wrap(map(r.getMap(), map_depth + 1));
    }
    return Status::invalid_argument("crdt: unknown value kind");
  }

 private:
  template <typename T>
  static Result<Value> wrap(Result<T> r) {
    if (!r.is_ok()) return r.status();
    return Value(std::move(r).value());
  }

  Status count(uint64_t n) {
    entries_ += n;
    if (entries_ > limits_.max_entries) {
      return Status::resource_exhausted("crdt: more than " + std::to_string(limits_.max_entries) +
                                        " entries");
    }
    return Status::ok();
  }

  Result<std::string> blob(capnp::Data::Reader d) {
    if (d.size() > limits_.max_blob_bytes) {
      return Status::resource_exhausted("crdt: a " + std::to_string(d.size()) +
                                        "-byte element exceeds " +
                                        std::to_string(limits_.max_blob_bytes));
    }
    return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
  }

  static Dot dot(schema::Dot::Reader r) { return Dot{r.getReplica(), r.getCounter()}; }

  static Status not_ascending(const char* what) {
    return Status::invalid_argument(std::string("crdt: ") + what + " not strictly ascending");
  }

  // A dot list: strictly ascending, no null dot.
  Result<std::set<Dot>> dots(capnp::List<schema::Dot>::Reader list) {
    MELD_RETURN_IF_ERROR(count(list.size()));
    std::set<Dot> out;
    std::optional<Dot> prev;
    for (auto r : list) {
      Dot d = dot(r);
      if (d.counter == 0) return Status::invalid_argument("crdt: null dot");
      if (prev && !(*prev < d)) return not_ascending("dots");
      out.emplace_hint(out.end(), d);
      prev = d;
    }
    return out;
  }

  Result<CausalContext> context(schema::CausalContext::Reader r) {
    auto vector_list = r.getVector();
    MELD_RETURN_IF_ERROR(count(vector_list.size()));
    std::map<ReplicaId, uint64_t> vector;
    std::optional<ReplicaId> prev;
    for (auto e : vector_list) {
      if (prev && !(*prev < e.getReplica())) return not_ascending("version vector");
      vector.emplace_hint(vector.end(), e.getReplica(), e.getCounter());
      prev = e.getReplica();
    }
    auto cloud = dots(r.getCloud());
    if (!cloud.is_ok()) return cloud.status();
    return CausalContext::from_parts(std::move(vector), std::move(cloud).value());
  }

  template <typename Amount>
  Result<DotCounter<Amount>> counter(schema::Counter::Reader r) {
    using Prefix = typename DotCounter<Amount>::Prefix;
    auto prefix_list = r.getPrefixes();
    MELD_RETURN_IF_ERROR(count(prefix_list.size()));
    std::map<ReplicaId, Prefix> prefixes;
    std::optional<ReplicaId> prev;
    for (auto p : prefix_list) {
      if (prev && !(*prev < p.getReplica())) return not_ascending("counter prefixes");
      prefixes.emplace_hint(prefixes.end(), p.getReplica(), Prefix{p.getCounter(), p.getSum()});
      prev = p.getReplica();
    }
    auto pending_list = r.getPending();
    MELD_RETURN_IF_ERROR(count(pending_list.size()));
    std::map<Dot, Amount> pending;
    std::optional<Dot> prev_dot;
    for (auto p : pending_list) {
      Dot d = dot(p.getDot());
      if (prev_dot && !(*prev_dot < d)) return not_ascending("counter pending dots");
      pending.emplace_hint(pending.end(), d, static_cast<Amount>(p.getAmount()));
      prev_dot = d;
    }
    return DotCounter<Amount>::from_parts(std::move(prefixes), std::move(pending));
  }

  Result<AwSet> aw_set(schema::AwSet::Reader r) {
    auto list = r.getEntries();
    MELD_RETURN_IF_ERROR(count(list.size()));
    std::vector<AwSet::Member> members;
    members.reserve(list.size());
    for (auto e : list) {
      auto element = blob(e.getElement());
      if (!element.is_ok()) return element.status();
      if (!members.empty() && !(members.back().element < element.value())) {
        return not_ascending("set elements");
      }
      auto element_dots = dots(e.getDots());
      if (!element_dots.is_ok()) return element_dots.status();
      members.push_back(AwSet::Member{std::move(element).value(), std::move(element_dots).value()});
    }
    auto cc = context(r.getContext());
    if (!cc.is_ok()) return cc.status();
    return AwSet::from_parts(std::move(members), std::move(cc).value());
  }

  Result<RwSet> rw_set(schema::RwSet::Reader r) {
    auto list = r.getEntries();
    MELD_RETURN_IF_ERROR(count(list.size()));
    RwSet::Entries entries;
    for (auto e : list) {
      auto element = blob(e.getElement());
      if (!element.is_ok()) return element.status();
      if (!entries.empty() && !(entries.rbegin()->first < element.value())) {
        return not_ascending("set elements");
      }
      auto token_list = e.getTokens();
      MELD_RETURN_IF_ERROR(count(token_list.size()));
      RwSet::Tokens tokens;
      for (auto t : token_list) {
        Dot d = dot(t.getDot());
        if (d.counter == 0) return Status::invalid_argument("crdt: null dot");
        if (!tokens.empty() && !(tokens.rbegin()->first < d)) return not_ascending("tokens");
        tokens.emplace_hint(tokens.end(), d, t.getAdd());
      }
      entries.emplace_hint(entries.end(), std::move(element).value(), std::move(tokens));
    }
    auto cc = context(r.getContext());
    if (!cc.is_ok()) return cc.status();
    return RwSet::from_parts(std::move(entries), std::move(cc).value());
  }

  Result<LwwRegister> lww(schema::LwwRegister::Reader r) {
    auto ts = r.getTimestamp();
    auto value = blob(r.getValue());
    if (!value.is_ok()) return value.status();
    return LwwRegister::from_parts(Hlc{ts.getPhysicalMs(), ts.getLogical(), ts.getNode()},
                                   std::move(value).value());
  }

  Result<MvRegister> mv(schema::MvRegister::Reader r) {
    auto list = r.getEntries();
    MELD_RETURN_IF_ERROR(count(list.size()));
    MvRegister::Entries entries;
    for (auto e : list) {
      Dot d = dot(e.getDot());
      if (d.counter == 0) return Status::invalid_argument("crdt: null dot");
      if (!entries.empty() && !(entries.rbegin()->first < d)) return not_ascending("mv dots");
      auto value = blob(e.getValue());
      if (!value.is_ok()) return value.status();
      entries.emplace_hint(entries.end(), d, std::move(value).value());
    }
    auto cc = context(r.getContext());
    if (!cc.is_ok()) return cc.status();
    return MvRegister::from_parts(std::move(entries), std::move(cc).value());
  }

  Result<OrMap> map(schema::Map::Reader r, int map_depth) {
    auto key_list = r.getKeys();
    MELD_RETURN_IF_ERROR(count(key_list.size()));
    OrMap::Keys keys;
    for (auto k : key_list) {
      auto name = blob(k.getName());
      if (!name.is_ok()) return name.status();
      if (static_cast<uint16_t>(k.getKind()) > static_cast<uint16_t>(Kind::kMap)) {
        return Status::invalid_argument("crdt: unknown map key kind");
      }
      MapKey key{std::move(name).value(), static_cast<Kind>(k.getKind())};
      if (!keys.empty() && !(keys.rbegin()->first < key)) return not_ascending("map keys");
      auto key_dots = dots(k.getDots());
      if (!key_dots.is_ok()) return key_dots.status();
      keys.emplace_hint(keys.end(), std::move(key), std::move(key_dots).value());
    }
    auto cc = context(r.getContext());
    if (!cc.is_ok()) return cc.status();
    auto value_list = r.getValues();
    MELD_RETURN_IF_ERROR(count(value_list.size()));
    OrMap::Values values;
    for (auto e : value_list) {
      auto name = blob(e.getName());
      if (!name.is_ok()) return name.status();
      auto v = value(e.getValue(), map_depth);
      if (!v.is_ok()) return v.status();
      MapKey key{std::move(name).value(), v->kind()};
      if (!values.empty() && !(values.rbegin()->first < key)) return not_ascending("map values");
      values.emplace_hint(values.end(), std::move(key), std::move(v).value());
    }
    return OrMap::from_parts(std::move(keys), std::move(cc).value(), std::move(values));
  }

  const DecodeLimits& limits_;
  uint64_t entries_ = 0;
};

Result<Value> decode_value(std::string_view bytes, const DecodeLimits& limits) {
  if (bytes.size() > limits.max_bytes) {
    return Status::resource_exhausted("crdt: " + std::to_string(bytes.size()) +
                                      " bytes exceed the limit of " +
                                      std::to_string(limits.max_bytes));
  }
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return Status::corruption("crdt: encoding is not a whole number of words");
  }
  // The input may be unaligned; Cap'n Proto reads words in place.
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  // Every word is read at most once by a valid decode; the slack covers list headers.
  options.traversalLimitInWords = words.size() * 2 + 64;
  options.nestingLimit = limits.max_map_depth * kNestingPerMapLevel + kNestingBelowLeaf;
  std::optional<Result<Value>> result;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&]() {
    capnp::FlatArrayMessageReader message(words, options);
    if (message.getEnd() != words.end()) {
      result.emplace(Status::corruption("crdt: trailing bytes after the message"));
      return;
    }
    Reader reader(limits);
    result.emplace(reader.value(message.getRoot<schema::Value>(), 0));
  });
  KJ_IF_MAYBE (e, error) {
    return Status::corruption(std::string("crdt: malformed encoding: ") +
                              e->getDescription().cStr());
  }
  return std::move(*result);
}

template <typename T>
Result<T> extract(Result<Value> v) {
  if (!v.is_ok()) return v.status();
  T* t = v->get<T>();
  if (t == nullptr) return Status::invalid_argument("crdt: encoding holds another kind");
  return std::move(*t);
}

}  // namespace

std::string encode(const GCounter& v) {
  return encode_message([&](schema::Value::Builder b) { build_counter(b.initGCounter(), v); });
}
std::string encode(const PnCounter& v) {
  return encode_message([&](schema::Value::Builder b) { build_counter(b.initPnCounter(), v); });
}
std::string encode(const AwSet& v) {
  return encode_message([&](schema::Value::Builder b) { build_aw_set(b.initAwSet(), v); });
}
std::string encode(const RwSet& v) {
  return encode_message([&](schema::Value::Builder b) { build_rw_set(b.initRwSet(), v); });
}
std::string encode(const LwwRegister& v) {
  return encode_message([&](schema::Value::Builder b) { build_lww(b.initLwwRegister(), v); });
}
std::string encode(const MvRegister& v) {
  return encode_message([&](schema::Value::Builder b) { build_mv(b.initMvRegister(), v); });
}
std::string encode(const OrMap& v) {
  return encode_message([&](schema::Value::Builder b) { build_map(b.initMap(), v); });
}
std::string encode(const Value& v) {
  return encode_message([&](schema::Value::Builder b) { build_value(b, v); });
}

template <>
Result<Value> decode<Value>(std::string_view bytes, const DecodeLimits& limits) {
  return decode_value(bytes, limits);
}
template <typename T>
Result<T> decode(std::string_view bytes, const DecodeLimits& limits) {
  return extract<T>(decode_value(bytes, limits));
}

template Result<GCounter> decode<GCounter>(std::string_view, const DecodeLimits&);
template Result<PnCounter> decode<PnCounter>(std::string_view, const DecodeLimits&);
template Result<AwSet> decode<AwSet>(std::string_view, const DecodeLimits&);
template Result<RwSet> decode<RwSet>(std::string_view, const DecodeLimits&);
template Result<LwwRegister> decode<LwwRegister>(std::string_view, const DecodeLimits&);
template Result<MvRegister> decode<MvRegister>(std::string_view, const DecodeLimits&);
template Result<OrMap> decode<OrMap>(std::string_view, const DecodeLimits&);

}  // namespace meld::crdt
