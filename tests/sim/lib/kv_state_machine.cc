#include "tests/sim/lib/kv_state_machine.h"

#include <charconv>
#include <vector>

#include "base/hash.h"

namespace meld::sim {
namespace {

// Splits on single spaces; empty fields are kept so that malformed input stays malformed.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

template <typename T>
bool parse_int(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

std::string encode_command(const Command& command) {
  std::string out = command.kind == CommandKind::kWrite ? "w " : "c ";
  out += std::to_string(command.op_id) + " " + command.key + " " + std::to_string(command.value);
  if (command.kind == CommandKind::kCas) out += " " + std::to_string(command.expected);
  return out;
}

Result<Command> decode_command(std::string_view data) {
  std::vector<std::string_view> f = split(data, ' ');
  Command c;
  bool ok = (f.size() == 4 && f[0] == "w") || (f.size() == 5 && f[0] == "c");
  if (ok) {
    c.kind = f[0] == "w" ? CommandKind::kWrite : CommandKind::kCas;
    c.key = std::string(f[2]);
    ok = !c.key.empty() && parse_int(f[1], &c.op_id) && parse_int(f[3], &c.value) &&
         (c.kind == CommandKind::kWrite || parse_int(f[4], &c.expected));
  }
  if (!ok) return Status::invalid_argument("sim: malformed command '" + std::string(data) + "'");
  return c;
}

uint64_t chain_digest(uint64_t digest, const consensus::Entry& entry) {
  uint64_t seed = digest ^ (entry.index * 0x9E3779B97F4A7C15ULL) ^ (entry.term << 17) ^
                  static_cast<uint64_t>(entry.type);
  return fast_hash64(entry.data, seed);
}

Result<ApplyResult> KvStateMachine::apply(const consensus::Entry& entry) {
  MELD_ASSERT(entry.index == applied_index_ + 1, "state machine applies out of order");
  ApplyResult result;
  if (entry.type == consensus::EntryType::kNormal && !entry.data.empty()) {
    Result<Command> c = decode_command(entry.data);
    if (!c.is_ok()) return c.status();
    auto it = values_.find(c->key);
    result.took_effect =
        c->kind == CommandKind::kWrite || (it != values_.end() && it->second == c->expected);
    if (result.took_effect) values_[c->key] = c->value;
    result.command = std::move(*c);
  }
  applied_index_ = entry.index;
  digest_ = chain_digest(digest_, entry);
  return result;
}

std::optional<int64_t> KvStateMachine::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string KvStateMachine::encode() const {
  std::string out = std::to_string(applied_index_) + " " + std::to_string(digest_);
  for (const auto& [key, value] : values_) out += "\n" + key + " " + std::to_string(value);
  return out;
}

Result<KvStateMachine> KvStateMachine::decode(std::string_view data) {
  std::vector<std::string_view> lines = split(data, '\n');
  KvStateMachine sm;
  std::vector<std::string_view> head = split(lines[0], ' ');
  bool ok =
      head.size() == 2 && parse_int(head[0], &sm.applied_index_) && parse_int(head[1], &sm.digest_);
  for (size_t i = 1; ok && i < lines.size(); ++i) {
    std::vector<std::string_view> kv = split(lines[i], ' ');
    int64_t value = 0;
    ok = kv.size() == 2 && !kv[0].empty() && parse_int(kv[1], &value);
    if (ok) sm.values_[std::string(kv[0])] = value;
  }
  if (!ok) return Status::invalid_argument("sim: malformed state machine snapshot");
  return sm;
}

KvStateMachine KvStateMachine::at_index(uint64_t index) {
  KvStateMachine sm;
  sm.applied_index_ = index;
  return sm;
}

}  // namespace meld::sim
