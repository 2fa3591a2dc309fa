#include "jepsen/history.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

namespace meld::jepsen {

std::string_view op_function_name(OpFunction function) {
  switch (function) {
    case OpFunction::kRead:
      return "read";
    case OpFunction::kWrite:
      return "write";
    case OpFunction::kCas:
      return "cas";
  }
  MELD_ASSERT(false, "unknown OpFunction");
}

std::string_view op_outcome_name(OpOutcome outcome) {
  switch (outcome) {
    case OpOutcome::kOk:
      return "ok";
    case OpOutcome::kFail:
      return "fail";
    case OpOutcome::kInfo:
      return "info";
  }
  MELD_ASSERT(false, "unknown OpOutcome");
}

namespace {

std::string op_ref(size_t index) {
  return "op " + std::to_string(index);
}

}  // namespace

Status validate_history(const History& history) {
  struct LastOp {
    size_t index;
    int64_t complete_time;
    bool info;
  };
  std::unordered_map<int64_t, LastOp> last_by_process;
  // Ops of one process are checked in invocation order, which need not be the vector's order.
  std::vector<size_t> order(history.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return history[a].invoke_time < history[b].invoke_time;
  });
  for (size_t i : order) {
    const Op& op = history[i];
    if (op.key.size() > kMaxKeyBytes) {
      return Status::invalid_argument(op_ref(i) + ": key longer than " +
                                      std::to_string(kMaxKeyBytes) + " bytes");
    }
    if (op.invoke_time < 0) return Status::invalid_argument(op_ref(i) + ": negative invoke time");
    if (op.outcome != OpOutcome::kInfo && op.complete_time < op.invoke_time) {
      return Status::invalid_argument(op_ref(i) + ": completes before it is invoked");
    }
    bool ok_read = op.function == OpFunction::kRead && op.outcome == OpOutcome::kOk;
    if (!ok_read && op.read_value.has_value()) {
      return Status::invalid_argument(op_ref(i) + ": a read value on an op that is not an ok read");
    }
    auto [it, first] = last_by_process.try_emplace(
        op.process, LastOp{i, op.complete_time, op.outcome == OpOutcome::kInfo});
    if (first) continue;
    if (it->second.info) {
      return Status::invalid_argument(op_ref(i) + ": process " + std::to_string(op.process) +
                                      " is reused after its info " + op_ref(it->second.index));
    }
    if (op.invoke_time < it->second.complete_time) {
      return Status::invalid_argument(op_ref(i) + ": overlaps " + op_ref(it->second.index) +
                                      " of the same process");
    }
    it->second = LastOp{i, op.complete_time, op.outcome == OpOutcome::kInfo};
  }
  return Status::ok();
}

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_field(std::string& out, std::string_view name, int64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

std::string format_op(const Op& op) {
  std::string out = "{\"process\":" + std::to_string(op.process) + ",\"key\":";
  append_json_string(out, op.key);
  out += ",\"f\":\"";
  out += op_function_name(op.function);
  out += "\",\"outcome\":\"";
  out += op_outcome_name(op.outcome);
  out += '"';
  if (op.function == OpFunction::kCas) append_field(out, "expected", op.expected);
  if (op.function != OpFunction::kRead) append_field(out, "value", op.value);
  if (op.function == OpFunction::kRead && op.outcome == OpOutcome::kOk) {
    if (op.read_value.has_value()) {
      append_field(out, "read", *op.read_value);
    } else {
      out += ",\"read\":null";
    }
  }
  append_field(out, "invoke", op.invoke_time);
  append_field(out, "complete", op.complete_time);
  out += '}';
  return out;
}

std::string format_history(const History& history) {
  std::string out;
  for (const Op& op : history) {
    out += format_op(op);
    out += '\n';
  }
  return out;
}

namespace {

// A JSON value as the text form uses them: a string, an integer or null.
struct JsonValue {
  enum class Kind { kString, kInt, kNull } kind = Kind::kNull;
  std::string text;
  int64_t number = 0;
};

// Reads one flat JSON object per line. Every error message names what was expected.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : s_(line) {}

  // Calls on_field(name, value) for each field; stops at the first error it or on_field returns.
  template <typename OnField>
  Status parse_object(OnField on_field) {
    skip_space();
    if (!consume('{')) return error("expected '{'");
    skip_space();
    if (consume('}')) return finish();
    for (;;) {
      skip_space();
      std::string name;
      MELD_RETURN_IF_ERROR(parse_string(name));
      skip_space();
      if (!consume(':')) return error("expected ':'");
      skip_space();
      JsonValue value;
      MELD_RETURN_IF_ERROR(parse_value(value));
      MELD_RETURN_IF_ERROR(on_field(name, value));
      skip_space();
      if (consume('}')) return finish();
      if (!consume(',')) return error("expected ',' or '}'");
    }
  }

 private:
  Status finish() {
    skip_space();
    return pos_ == s_.size() ? Status::ok() : error("trailing characters after the object");
  }
  Status error(std::string what) const {
    return Status::invalid_argument(what + " at column " + std::to_string(pos_ + 1));
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Status parse_value(JsonValue& out) {
    if (pos_ < s_.size() && s_[pos_] == '"') {
      out.kind = JsonValue::Kind::kString;
      return parse_string(out.text);
    }
    if (s_.substr(pos_, 4) == "null") {
      pos_ += 4;
      out.kind = JsonValue::Kind::kNull;
      return Status::ok();
    }
    size_t start = pos_;
    consume('-');
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    std::string_view digits = s_.substr(start, pos_ - start);
    if (digits.empty() || digits == "-") return error("expected a string, an integer or null");
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.number);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      return error("integer out of the 64-bit range");
    }
    out.kind = JsonValue::Kind::kInt;
    return Status::ok();
  }

  Status parse_string(std::string& out) {
    if (!consume('"')) return error("expected '\"'");
    for (;;) {
      if (pos_ >= s_.size()) return error("unterminated string");
      if (out.size() > kMaxKeyBytes) return error("string longer than the key limit");
      char c = s_[pos_++];
      if (c == '"') return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) return error("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u':
          MELD_RETURN_IF_ERROR(parse_unicode_escape(out));
          break;
        default:
          return error("unknown escape");
      }
    }
  }

  // \uXXXX for a code point outside the surrogate range, appended as UTF-8.
  Status parse_unicode_escape(std::string& out) {
    if (pos_ + 4 > s_.size()) return error("short \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') {
        cp |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        cp |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        cp |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return error("bad hex digit in \\u escape");
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) return error("surrogate in \\u escape");
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
    return Status::ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Bit per field of the text form, to find duplicates and missing fields.
enum FieldBit : uint32_t {
  kProcessField = 1 << 0,
  kKeyField = 1 << 1,
  kFunctionField = 1 << 2,
  kOutcomeField = 1 << 3,
  kValueField = 1 << 4,
  kExpectedField = 1 << 5,
  kReadField = 1 << 6,
  kInvokeField = 1 << 7,
  kCompleteField = 1 << 8,
};

Status read_int(const JsonValue& v, std::string_view name, int64_t& out) {
  if (v.kind != JsonValue::Kind::kInt) {
    return Status::invalid_argument("field '" + std::string(name) + "' must be an integer");
  }
  out = v.number;
  return Status::ok();
}

Status parse_op_line(std::string_view line, Op& op) {
  uint32_t seen = 0;
  auto on_field = [&](const std::string& name, const JsonValue& v) -> Status {
    uint32_t bit = 0;
    Status st;
    if (name == "process") {
      bit = kProcessField;
      st = read_int(v, name, op.process);
    } else if (name == "key") {
      bit = kKeyField;
      if (v.kind != JsonValue::Kind::kString) return Status::invalid_argument("key not a string");
      op.key = v.text;
    } else if (name == "f") {
      bit = kFunctionField;
      if (v.text == "read" && v.kind == JsonValue::Kind::kString) {
        op.function = OpFunction::kRead;
      } else if (v.text == "write" && v.kind == JsonValue::Kind::kString) {
        op.function = OpFunction::kWrite;
      } else if (v.text == "cas" && v.kind == JsonValue::Kind::kString) {
        op.function = OpFunction::kCas;
      } else {
        return Status::invalid_argument("field 'f' must be \"read\", \"write\" or \"cas\"");
      }
    } else if (name == "outcome") {
      bit = kOutcomeField;
      if (v.text == "ok" && v.kind == JsonValue::Kind::kString) {
        op.outcome = OpOutcome::kOk;
      } else if (v.text == "fail" && v.kind == JsonValue::Kind::kString) {
        op.outcome = OpOutcome::kFail;
      } else if (v.text == "info" && v.kind == JsonValue::Kind::kString) {
        op.outcome = OpOutcome::kInfo;
      } else {
        return Status::invalid_argument("field 'outcome' must be \"ok\", \"fail\" or \"info\"");
      }
    } else if (name == "value") {
      bit = kValueField;
      st = read_int(v, name, op.value);
    } else if (name == "expected") {
      bit = kExpectedField;
      st = read_int(v, name, op.expected);
    } else if (name == "read") {
      bit = kReadField;
      if (v.kind == JsonValue::Kind::kNull) {
        op.read_value.reset();
      } else {
        int64_t read = 0;
        st = read_int(v, name, read);
        op.read_value = read;
      }
    } else if (name == "invoke") {
      bit = kInvokeField;
      st = read_int(v, name, op.invoke_time);
    } else if (name == "complete") {
      bit = kCompleteField;
      st = read_int(v, name, op.complete_time);
    } else {
      return Status::invalid_argument("unknown field '" + name.substr(0, 64) + "'");
    }
    if (seen & bit) return Status::invalid_argument("duplicate field '" + name + "'");
    seen |= bit;
    return st;
  };
  MELD_RETURN_IF_ERROR(LineParser(line).parse_object(on_field));

  uint32_t required =
      kProcessField | kKeyField | kFunctionField | kOutcomeField | kInvokeField | kCompleteField;
  if (op.function == OpFunction::kCas) required |= kExpectedField;
  if (op.function != OpFunction::kRead) required |= kValueField;
  if (op.function == OpFunction::kRead && op.outcome == OpOutcome::kOk) required |= kReadField;
  if ((seen & required) != required) return Status::invalid_argument("missing a required field");
  if (seen != required) {
    return Status::invalid_argument("a field that does not apply to this function and outcome");
  }
  return Status::ok();
}

}  // namespace

Result<History> parse_history(std::string_view text, size_t max_ops) {
  History history;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (history.size() == max_ops) {
      return Status::resource_exhausted("history has more than " + std::to_string(max_ops) +
                                        " ops");
    }
    Op op;
    Status st = parse_op_line(line, op);
    if (!st.is_ok()) {
      return Status::invalid_argument("line " + std::to_string(line_number) + ": " + st.message());
    }
    history.push_back(std::move(op));
  }
  MELD_RETURN_IF_ERROR(validate_history(history));
  return history;
}

HistoryRecorder::HistoryRecorder(size_t max_ops) : max_ops_(max_ops) {}

Result<HistoryRecorder::OpId> HistoryRecorder::invoke(const Op& op) {
  std::lock_guard lock(mu_);
  if (ops_.size() >= max_ops_) {
    return Status::resource_exhausted("history recorder holds its limit of " +
                                      std::to_string(max_ops_) + " ops");
  }
  if (op.key.size() > kMaxKeyBytes) return Status::invalid_argument("key too long");
  if (retired_processes_.contains(op.process)) {
    return Status::invalid_argument("process " + std::to_string(op.process) +
                                    " was retired by an info op");
  }
  if (!busy_processes_.insert(op.process).second) {
    return Status::invalid_argument("process " + std::to_string(op.process) +
                                    " already has an op outstanding");
  }
  Op& recorded = ops_.emplace_back(op);
  recorded.outcome = OpOutcome::kInfo;
  recorded.read_value.reset();
  recorded.complete_time = kNeverCompleted;
  completed_.push_back(false);
  return ops_.size() - 1;
}

Status HistoryRecorder::complete_ok(OpId id, std::optional<int64_t> read_value,
                                    int64_t complete_time) {
  return complete(id, OpOutcome::kOk, read_value, complete_time);
}

Status HistoryRecorder::complete_fail(OpId id, int64_t complete_time) {
  return complete(id, OpOutcome::kFail, std::nullopt, complete_time);
}

Status HistoryRecorder::complete_info(OpId id, int64_t complete_time) {
  return complete(id, OpOutcome::kInfo, std::nullopt, complete_time);
}

Status HistoryRecorder::complete(OpId id, OpOutcome outcome, std::optional<int64_t> read_value,
                                 int64_t complete_time) {
  std::lock_guard lock(mu_);
  if (id >= ops_.size() || completed_[id]) {
    return Status::invalid_argument("op id " + std::to_string(id) + " is not outstanding");
  }
  Op& op = ops_[id];
  if (complete_time < op.invoke_time) {
    return Status::invalid_argument("completion before the invocation");
  }
  if (read_value.has_value() && op.function != OpFunction::kRead) {
    return Status::invalid_argument("a read value for a write or cas");
  }
  op.outcome = outcome;
  op.read_value = read_value;
  op.complete_time = complete_time;
  completed_[id] = true;
  busy_processes_.erase(op.process);
  if (outcome == OpOutcome::kInfo) retired_processes_.insert(op.process);
  return Status::ok();
}

History HistoryRecorder::history() const {
  std::lock_guard lock(mu_);
  return ops_;
}

size_t HistoryRecorder::size() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

}  // namespace meld::jepsen
