#include "client/cli.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "base/ids.h"
#include "base/rng.h"
#include "client/client.h"
#include "client/json.h"
#include "client/series_parser.h"
#include "schemas/api.capnp.h"

namespace meld::client {
namespace {

constexpr std::string_view kGlobalSynopsis =
    "meldctl [--addr HOST:PORT] [--json] [--timeout-ms N] COMMAND ...";
constexpr uint32_t kDefaultListLimit = 1000;
// Attempts of one retry-safe update (counter add/inc/dec, set add/remove) at most, all with the
// same request id, and the pause before each retry.
constexpr int kUpdateAttemptsMax = 3;
constexpr int64_t kRetryPauseMs = 100;
// Bounds what one list command holds in memory.
constexpr uint32_t kMaxListLimit = 1000000;
// `ts write -`: a longer input line is rejected; batches stay well below the RPC message limit.
constexpr size_t kMaxLineBytes = 256 * 1024;
constexpr size_t kMaxBatchBytes = 8 * 1024 * 1024;
constexpr size_t kSampleBytes = 24;
constexpr size_t kSeriesOverheadBytes = 64;
constexpr size_t kLabelOverheadBytes = 32;

// The words, options and operands after the command name.
struct Args {
  std::vector<std::string> operands;
  std::map<std::string, std::string, std::less<>> options;

  const std::string* option(std::string_view name) const {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  }
};

class Cli;

struct Command {
  std::string_view group;                 // "kv", or the whole command ("status")
  std::string_view name;                  // "get"; empty for a one-word command
  std::string_view synopsis;              // operands and options, as the usage line shows them
  std::string_view summary;               // what it does, for `meldctl help`
  std::vector<std::string_view> options;  // each takes a value
  size_t min_operands;
  size_t max_operands;
  int (Cli::*handler)(const Command&, const Args&);

  std::string usage() const {
    std::string line = "usage: meldctl [options] " + std::string(group);
    if (!name.empty()) line += " " + std::string(name);
    if (!synopsis.empty()) line += " " + std::string(synopsis);
    return line;
  }
};

std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Printable ASCII as is, a backslash doubled, every other byte as \xHH: one entry stays one line.
std::string printable(std::string_view bytes) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

// Reads one line, without its '\n', into line; false at the end of input. Bytes past
// kMaxLineBytes are consumed and dropped, and too_long says so.
bool read_line(std::istream& in, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  std::streambuf* buffer = in.rdbuf();
  bool any = false;
  for (int c = buffer->sbumpc(); c != std::char_traits<char>::eof(); c = buffer->sbumpc()) {
    any = true;
    if (c == '\n') return true;
    if (line.size() < kMaxLineBytes) {
      line += static_cast<char>(c);
    } else {
      too_long = true;
    }
  }
  return any;
}

std::vector<std::string_view> split_blanks(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// What `ts write` accepted and rejected, and the rejected items.
struct WriteReport {
  struct Item {
    std::string where;  // "line 4", "sample 2 (1000=x)", "series up"
    Status status;
  };
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  std::vector<Item> items;
};

// Samples of `ts write -` waiting to be sent, grouped by series, within the write limits.
struct PendingWrite {
  std::vector<Series> series;
  std::vector<std::vector<uint64_t>> lines;         // input line of each sample, per series
  std::unordered_map<std::string, uint32_t> index;  // format_series text -> position in series
  size_t samples = 0;
  size_t bytes = 0;
};

class Cli {
 public:
  explicit Cli(const CliContext& context)
      : in_(context.in), out_(context.out), err_(context.err), address_(context.default_address) {}

  int run(const std::vector<std::string>& args);

  int kv_get(const Command&, const Args& args);
  int kv_put(const Command&, const Args& args);
  int kv_del(const Command&, const Args& args);
  int kv_scan(const Command& command, const Args& args);
  int counter_get(const Command&, const Args& args);
  int counter_add(const Command& command, const Args& args);
  int set_add(const Command&, const Args& args);
  int set_remove(const Command&, const Args& args);
  int set_contains(const Command&, const Args& args);
  int set_list(const Command& command, const Args& args);
  int ts_write(const Command& command, const Args& args);
  int ts_read(const Command& command, const Args& args);
  int ts_query(const Command& command, const Args& args);
  int status(const Command&, const Args& args);
  int help(const Command&, const Args& args);

 private:
  int usage_error(std::string_view problem, std::string_view usage);
  // Consumes the global option at args[i] (--json, --addr, --timeout-ms, with its value) and
  // advances i past it. Returns an exit code for a usage error, nullopt when it was taken.
  std::optional<int> take_global_option(const std::vector<std::string>& args, size_t& i);
  int fail(const Status& status);
  int print_ok();
  int print_json(const JsonWriter& json);
  Result<Client*> client();
  std::optional<uint32_t> list_limit(const Command& command, const Args& args, int& exit_code);
  int counter_result(std::string_view name, const Result<int64_t>& value);
  // Sends a retry-safe update through send(client, id) under a fresh request id (a random session,
  // sequence 1), and sends it again with the same id, on a new connection, after a transport
  // failure or timeout (unavailable, deadline_exceeded), kUpdateAttemptsMax attempts in all.
  template <typename Send>
  auto send_with_retries(Send send) -> decltype(send(std::declval<Client&>(), RequestId{}));
  int set_update(const Args& args, bool remove);
  int ts_write_stdin();
  void flush(PendingWrite& pending, WriteReport& report, Status& failure);
  int finish_write(const WriteReport& report, const Status& failure);
  void reject(WriteReport& report, std::string where, Status status, uint64_t samples);

  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  std::string address_;
  bool json_ = false;
  int64_t timeout_ms_ = Options().timeout_ms;
  std::unique_ptr<Client> client_;
};

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"kv", "get", "KEY", "print the value of KEY, or (not found)", {}, 1, 1, &Cli::kv_get},
      {"kv", "put", "KEY VALUE", "set KEY to VALUE", {}, 2, 2, &Cli::kv_put},
      {"kv", "del", "KEY", "delete KEY", {}, 1, 1, &Cli::kv_del},
      {"kv",
       "scan",
       "[--start S] [--end E] [--limit N]",
       "keys in [S, E) with their values, at most N (default 1000)",
       {"--start", "--end", "--limit"},
       0,
       0,
       &Cli::kv_scan},
      {"counter", "get", "NAME", "print the counter's value", {}, 1, 1, &Cli::counter_get},
      {"counter",
       "add",
       "NAME DELTA",
       "add DELTA, print the new value",
       {},
       2,
       2,
       &Cli::counter_add},
      {"counter", "inc", "NAME [BY]", "add BY (default 1)", {}, 1, 2, &Cli::counter_add},
      {"counter", "dec", "NAME [BY]", "subtract BY (default 1)", {}, 1, 2, &Cli::counter_add},
      {"set", "add", "SET MEMBER...", "add members", {}, 2, SIZE_MAX, &Cli::set_add},
      {"set", "remove", "SET MEMBER...", "remove members", {}, 2, SIZE_MAX, &Cli::set_remove},
      {"set",
       "contains",
       "SET MEMBER...",
       "print true or false; for several members, one line MEMBER<tab>true|false each",
       {},
       2,
       SIZE_MAX,
       &Cli::set_contains},
      {"set",
       "list",
       "SET [--after A] [--limit N]",
       "members after A in byte order, at most N (default 1000)",
       {"--after", "--limit"},
       1,
       1,
       &Cli::set_list},
      {"ts",
       "write",
       "SERIES TS=VALUE [TS=VALUE...] | ts write -",
       "write samples; with -, lines \"SERIES TS VALUE\" from stdin",
       {},
       1,
       SIZE_MAX,
       &Cli::ts_write},
      {"ts",
       "read",
       "SERIES --from MS --to MS [--limit N]",
       "samples with MS <= TS < MS, at most N (default 1000)",
       {"--from", "--to", "--limit"},
       1,
       1,
       &Cli::ts_read},
      {"ts",
       "query",
       "EXPR --from MS --to MS --step MS",
       "evaluate a PromQL-subset expression at every step from MS to MS",
       {"--from", "--to", "--step"},
       1,
       1,
       &Cli::ts_query},
      {"status", "", "", "print the node's status", {}, 0, 0, &Cli::status},
      {"help", "", "", "print this text", {}, 0, 0, &Cli::help},
  };
  return kCommands;
}

namespace {

bool is_global_option(std::string_view name) {
  return name == "--json" || name == "--addr" || name == "--timeout-ms";
}

}  // namespace

std::optional<int> Cli::take_global_option(const std::vector<std::string>& args, size_t& i) {
  const std::string& arg = args[i++];
  if (arg == "--json") {
    json_ = true;
    return std::nullopt;
  }
  std::string name = arg.substr(0, arg.find('='));
  std::string value;
  if (name.size() < arg.size()) {
    value = arg.substr(name.size() + 1);
  } else if (i < args.size()) {
    value = args[i++];
  } else {
    return usage_error(name + " needs a value", "usage: " + std::string(kGlobalSynopsis));
  }
  if (name == "--addr") {
    if (value.empty()) {
      return usage_error("--addr needs HOST:PORT", "usage: " + std::string(kGlobalSynopsis));
    }
    address_ = value;
    return std::nullopt;
  }
  std::optional<int64_t> ms = parse_int64(value);
  if (!ms || *ms <= 0) {
    return usage_error("--timeout-ms needs a positive number of milliseconds, got '" + value + "'",
                       "usage: " + std::string(kGlobalSynopsis));
  }
  timeout_ms_ = *ms;
  return std::nullopt;
}

int Cli::run(const std::vector<std::string>& args) {
  size_t i = 0;
  // Global options may come before the command (and after it, see below); each turn consumes
  // at least one argument.
  while (i < args.size() && args[i].starts_with("-")) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out_ << cli_usage();
      return 0;
    }
    if (!is_global_option(arg.substr(0, arg.find('=')))) {
      return usage_error("unknown option '" + arg + "'", "usage: " + std::string(kGlobalSynopsis));
    }
    if (auto exit_code = take_global_option(args, i)) return *exit_code;
  }
  if (i == args.size()) {
    return usage_error("missing command (try 'meldctl help')",
                       "usage: " + std::string(kGlobalSynopsis));
  }

  const std::string& group = args[i++];
  std::vector<const Command*> in_group;
  for (const Command& c : commands()) {
    if (c.group == group) in_group.push_back(&c);
  }
  if (in_group.empty()) {
    return usage_error("unknown command '" + group + "' (try 'meldctl help')",
                       "usage: " + std::string(kGlobalSynopsis));
  }
  const Command* command = nullptr;
  if (in_group.size() == 1 && in_group[0]->name.empty()) {
    command = in_group[0];
  } else {
    std::string group_usage;
    for (const Command* c : in_group) group_usage += (group_usage.empty() ? "" : "\n") + c->usage();
    if (i == args.size()) return usage_error("missing " + group + " subcommand", group_usage);
    for (const Command* c : in_group) {
      if (c->name == args[i]) command = c;
    }
    if (command == nullptr) {
      return usage_error("unknown " + group + " subcommand '" + args[i] + "'", group_usage);
    }
    ++i;
  }

  Args parsed;
  bool operands_only = false;
  // Each turn consumes at least one argument.
  while (i < args.size()) {
    const std::string& arg = args[i++];
    if (operands_only || !arg.starts_with("--")) {
      parsed.operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      operands_only = true;
      continue;
    }
    std::string name = arg.substr(0, arg.find('='));
    if (is_global_option(name)) {
      --i;
      if (auto exit_code = take_global_option(args, i)) return *exit_code;
      continue;
    }
    if (std::find(command->options.begin(), command->options.end(), name) ==
        command->options.end()) {
      return usage_error("unknown option '" + name + "'", command->usage());
    }
    if (parsed.option(name) != nullptr) {
      return usage_error(name + " given twice", command->usage());
    }
    if (name.size() < arg.size()) {
      parsed.options[name] = arg.substr(name.size() + 1);
    } else if (i < args.size()) {
      parsed.options[name] = args[i++];
    } else {
      return usage_error(name + " needs a value", command->usage());
    }
  }
  if (parsed.operands.size() < command->min_operands) {
    return usage_error("missing arguments", command->usage());
  }
  if (parsed.operands.size() > command->max_operands) {
    return usage_error("too many arguments", command->usage());
  }
  return (this->*command->handler)(*command, parsed);
}

int Cli::usage_error(std::string_view problem, std::string_view usage) {
  err_ << "meldctl: " << problem << "\n" << usage << "\n";
  return 2;
}

int Cli::fail(const Status& status) {
  err_ << "meldctl: " << status.to_string() << "\n";
  return 1;
}

int Cli::print_ok() {
  if (json_) {
    JsonWriter json;
    json.begin_object().key("ok").boolean(true).end_object();
    return print_json(json);
  }
  out_ << "OK\n";
  return 0;
}

int Cli::print_json(const JsonWriter& json) {
  out_ << json.text() << "\n";
  return 0;
}

Result<Client*> Cli::client() {
  if (client_ == nullptr) {
    auto connected = Client::connect(Options{.address = address_, .timeout_ms = timeout_ms_});
    if (!connected.is_ok()) return connected.status();
    client_ = std::move(*connected);
  }
  return client_.get();
}

std::optional<uint32_t> Cli::list_limit(const Command& command, const Args& args, int& exit_code) {
  const std::string* text = args.option("--limit");
  if (text == nullptr) return kDefaultListLimit;
  std::optional<int64_t> limit = parse_int64(*text);
  if (!limit || *limit <= 0 || *limit > kMaxListLimit) {
    exit_code = usage_error("--limit needs a number from 1 to " + std::to_string(kMaxListLimit) +
                                ", got '" + *text + "'",
                            command.usage());
    return std::nullopt;
  }
  return static_cast<uint32_t>(*limit);
}

int Cli::kv_get(const Command&, const Args& args) {
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  const std::string& key = args.operands[0];
  auto value = (*c)->kv_get(key);
  if (!value.is_ok()) return fail(value.status());
  if (json_) {
    JsonWriter json;
    json.begin_object().key("key").string(key).key("found").boolean(value->has_value());
    if (value->has_value()) json.key("value").string(**value);
    json.end_object();
    return print_json(json);
  }
  out_ << (value->has_value() ? **value : "(not found)") << "\n";
  return 0;
}

int Cli::kv_put(const Command&, const Args& args) {
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  Status s = (*c)->kv_put(args.operands[0], args.operands[1]);
  return s.is_ok() ? print_ok() : fail(s);
}

int Cli::kv_del(const Command&, const Args& args) {
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  Status s = (*c)->kv_delete(args.operands[0]);
  return s.is_ok() ? print_ok() : fail(s);
}

int Cli::kv_scan(const Command& command, const Args& args) {
  int exit_code = 0;
  std::optional<uint32_t> limit = list_limit(command, args, exit_code);
  if (!limit) return exit_code;
  const std::string* start_option = args.option("--start");
  const std::string* end_option = args.option("--end");
  std::string start = start_option != nullptr ? *start_option : "";
  std::string end = end_option != nullptr ? *end_option : "";
  auto c = client();
  if (!c.is_ok()) return fail(c.status());

  std::vector<KeyValue> entries;
  bool more = true;
  // Every page but the last adds at least one entry, so at most limit pages.
  while (more && entries.size() < *limit) {
    uint32_t want = std::min<uint32_t>(*limit - entries.size(), api::MAX_SCAN_ENTRIES);
    auto page = (*c)->kv_scan(start, end, want);
    if (!page.is_ok()) return fail(page.status());
    more = page->more;
    if (page->entries.empty()) break;
    start = page->entries.back().key + '\0';
    for (KeyValue& e : page->entries) entries.push_back(std::move(e));
  }
  if (entries.size() > *limit) entries.resize(*limit);
  if (json_) {
    JsonWriter json;
    json.begin_object().key("entries").begin_array();
    for (const KeyValue& e : entries) {
      json.begin_object().key("key").string(e.key).key("value").string(e.value).end_object();
    }
    json.end_array().key("more").boolean(more).end_object();
    return print_json(json);
  }
  for (const KeyValue& e : entries) out_ << printable(e.key) << "\t" << printable(e.value) << "\n";
  if (more) out_ << "(more)\n";
  return 0;
}

int Cli::counter_result(std::string_view name, const Result<int64_t>& value) {
  if (!value.is_ok()) return fail(value.status());
  if (json_) {
    JsonWriter json;
    json.begin_object().key("name").string(name).key("value").number(*value).end_object();
    return print_json(json);
  }
  out_ << *value << "\n";
  return 0;
}

int Cli::counter_get(const Command&, const Args& args) {
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  return counter_result(args.operands[0], (*c)->counter_get(args.operands[0]));
}

// counter add NAME DELTA, counter inc NAME [BY], counter dec NAME [BY].
int Cli::counter_add(const Command& command, const Args& args) {
  int64_t delta = 1;
  if (args.operands.size() == 2) {
    std::optional<int64_t> parsed = parse_int64(args.operands[1]);
    if (!parsed) {
      return usage_error("'" + args.operands[1] + "' is not a 64-bit integer", command.usage());
    }
    delta = *parsed;
  }
  if (command.name == "dec") {
    if (delta == std::numeric_limits<int64_t>::min()) {
      return usage_error("cannot negate " + args.operands[1], command.usage());
    }
    delta = -delta;
  }
  const std::string& name = args.operands[0];
  return counter_result(name, send_with_retries([&](Client& c, RequestId id) {
                          return c.counter_add(name, delta, id);
                        }));
}

namespace {
Status status_of(const Status& status) {
  return status;
}
template <typename T>
Status status_of(const Result<T>& result) {
  return result.status();
}
// Errors after which the update may or may not have landed, so resending its id is safe and useful.
bool worth_retrying(const Status& status) {
  return status.code() == StatusCode::kUnavailable ||
         status.code() == StatusCode::kDeadlineExceeded;
}
}  // namespace

template <typename Send>
auto Cli::send_with_retries(Send send) -> decltype(send(std::declval<Client&>(), RequestId{})) {
  const RequestId id{os_random_u64(), 1};
  Status last;
  for (int attempt = 1;; ++attempt) {
    auto c = client();
    if (c.is_ok()) {
      auto result = send(**c, id);
      last = status_of(result);
      if (!worth_retrying(last)) return result;
    } else {
      last = c.status();
      if (!worth_retrying(last)) return last;
    }
    if (attempt == kUpdateAttemptsMax) {
      return Status(last.code(), last.message() + " (" + std::to_string(kUpdateAttemptsMax) +
                                     " attempts with request id " + format_id(id.session) + "/1)");
    }
    client_.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(kRetryPauseMs));
  }
}

int Cli::set_update(const Args& args, bool remove) {
  const std::string& set = args.operands[0];
  std::vector<std::string> members(args.operands.begin() + 1, args.operands.end());
  Status s = send_with_retries([&](Client& c, RequestId id) {
    return remove ? c.set_remove(set, members, id) : c.set_add(set, members, id);
  });
  return s.is_ok() ? print_ok() : fail(s);
}

int Cli::set_add(const Command&, const Args& args) {
  return set_update(args, false);
}

int Cli::set_remove(const Command&, const Args& args) {
  return set_update(args, true);
}

int Cli::set_contains(const Command&, const Args& args) {
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  if (args.operands.size() > 2) {
    std::vector<std::string> members(args.operands.begin() + 1, args.operands.end());
    auto present = (*c)->set_contains_all(args.operands[0], members);
    if (!present.is_ok()) return fail(present.status());
    if (json_) {
      JsonWriter json;
      json.begin_object().key("members").begin_array();
      for (size_t i = 0; i < members.size(); ++i) {
        json.begin_object()
            .key("member")
            .string(members[i])
            .key("present")
            .boolean((*present)[i])
            .end_object();
      }
      json.end_array().end_object();
      return print_json(json);
    }
    for (size_t i = 0; i < members.size(); ++i) {
      out_ << printable(members[i]) << "\t" << ((*present)[i] ? "true" : "false") << "\n";
    }
    return 0;
  }
  auto present = (*c)->set_contains(args.operands[0], args.operands[1]);
  if (!present.is_ok()) return fail(present.status());
  if (json_) {
    JsonWriter json;
    json.begin_object().key("present").boolean(*present).end_object();
    return print_json(json);
  }
  out_ << (*present ? "true" : "false") << "\n";
  return 0;
}

int Cli::set_list(const Command& command, const Args& args) {
  int exit_code = 0;
  std::optional<uint32_t> limit = list_limit(command, args, exit_code);
  if (!limit) return exit_code;
  const std::string* after_option = args.option("--after");
  std::string after = after_option != nullptr ? *after_option : "";
  auto c = client();
  if (!c.is_ok()) return fail(c.status());

  std::vector<std::string> members;
  bool more = true;
  // Every page but the last adds at least one member, so at most limit pages.
  while (more && members.size() < *limit) {
    uint32_t want = std::min<uint32_t>(*limit - members.size(), api::MAX_SCAN_ENTRIES);
    auto page = (*c)->set_list(args.operands[0], after, want);
    if (!page.is_ok()) return fail(page.status());
    more = page->more;
    if (page->members.empty()) break;
    after = page->members.back();
    for (std::string& m : page->members) members.push_back(std::move(m));
  }
  if (members.size() > *limit) members.resize(*limit);
  if (json_) {
    JsonWriter json;
    json.begin_object().key("members").begin_array();
    for (const std::string& m : members) json.string(m);
    json.end_array().key("more").boolean(more).end_object();
    return print_json(json);
  }
  for (const std::string& m : members) out_ << printable(m) << "\n";
  if (more) out_ << "(more)\n";
  return 0;
}

void Cli::reject(WriteReport& report, std::string where, Status status, uint64_t samples) {
  report.rejected += samples;
  if (!json_) err_ << "meldctl: " << where << ": " << status.to_string() << "\n";
  report.items.push_back({std::move(where), std::move(status)});
}

int Cli::finish_write(const WriteReport& report, const Status& failure) {
  if (!failure.is_ok()) fail(failure);
  if (json_) {
    JsonWriter json;
    json.begin_object()
        .key("accepted")
        .number(report.accepted)
        .key("rejected")
        .number(report.rejected)
        .key("errors")
        .begin_array();
    for (const WriteReport::Item& item : report.items) {
      json.begin_object()
          .key("item")
          .string(item.where)
          .key("code")
          .string(status_code_name(item.status.code()))
          .key("message")
          .string(item.status.message())
          .end_object();
    }
    json.end_array().end_object();
    print_json(json);
  } else {
    out_ << "accepted " << report.accepted << ", rejected " << report.rejected << "\n";
  }
  return failure.is_ok() && report.rejected == 0 ? 0 : 1;
}

int Cli::ts_write(const Command& command, const Args& args) {
  if (args.operands.size() == 1 && args.operands[0] == "-") return ts_write_stdin();
  if (args.operands.size() < 2) return usage_error("missing samples", command.usage());
  auto labels = parse_series(args.operands[0]);
  if (!labels.is_ok()) {
    return usage_error("bad series '" + args.operands[0] + "': " + labels.status().message(),
                       command.usage());
  }
  std::vector<Series> series(1);
  series[0].labels = std::move(*labels);
  bool bad_token = false;
  for (size_t i = 1; i < args.operands.size(); ++i) {
    auto sample = parse_sample_token(args.operands[i]);
    if (sample.is_ok()) {
      series[0].samples.push_back(*sample);
    } else {
      err_ << "meldctl: " << sample.status().message() << "\n";
      bad_token = true;
    }
  }
  if (bad_token) {
    err_ << command.usage() << "\n";
    return 2;
  }
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  auto written = (*c)->metrics_write(series);
  if (!written.is_ok()) return fail(written.status());
  WriteReport report;
  report.accepted = written->accepted;
  for (ItemError& e : written->errors) {
    if (e.sample == ItemError::kWholeSeries) {
      reject(report, "series " + args.operands[0], std::move(e.status), series[0].samples.size());
    } else {
      std::string token = e.sample + 1 < args.operands.size() ? args.operands[e.sample + 1] : "?";
      reject(report, "sample " + std::to_string(e.sample + 1) + " (" + token + ")",
             std::move(e.status), 1);
    }
  }
  return finish_write(report, Status::ok());
}

void Cli::flush(PendingWrite& pending, WriteReport& report, Status& failure) {
  if (pending.series.empty()) return;
  auto c = client();
  auto written = c.is_ok() ? (*c)->metrics_write(pending.series) : Result<WriteResult>(c.status());
  if (!written.is_ok()) {
    // The batch may or may not be stored: it is not acknowledged, so it counts as rejected.
    report.rejected += pending.samples;
    failure = written.status();
  } else {
    report.accepted += written->accepted;
    for (ItemError& e : written->errors) {
      const std::vector<uint64_t>& lines = pending.lines[e.series];
      if (e.sample == ItemError::kWholeSeries) {
        reject(report,
               "line " + std::to_string(lines[0]) + ": series " +
                   format_series(pending.series[e.series].labels) + " (" +
                   std::to_string(lines.size()) + " samples)",
               std::move(e.status), lines.size());
      } else {
        std::string line = e.sample < lines.size() ? std::to_string(lines[e.sample]) : "?";
        reject(report, "line " + line, std::move(e.status), 1);
      }
    }
  }
  pending = PendingWrite();
}

int Cli::ts_write_stdin() {
  WriteReport report;
  PendingWrite pending;
  Status failure;
  std::string line;
  bool too_long = false;
  uint64_t line_number = 0;
  // One input line per turn, until the end of input or a failed batch.
  while (failure.is_ok() && read_line(in_, line, too_long)) {
    ++line_number;
    std::string where = "line " + std::to_string(line_number);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (too_long) {
      reject(report, where,
             Status::invalid_argument("longer than " + std::to_string(kMaxLineBytes) + " bytes"),
             1);
      continue;
    }
    if (split_blanks(line).empty() || line.starts_with('#')) continue;
    auto prefix = parse_series_prefix(line);
    if (!prefix.is_ok()) {
      reject(report, where, prefix.status(), 1);
      continue;
    }
    std::vector<std::string_view> words =
        split_blanks(std::string_view(line).substr(prefix->length));
    if (words.size() != 2) {
      reject(report, where, Status::invalid_argument("expected SERIES TS VALUE"), 1);
      continue;
    }
    auto ts = parse_timestamp_ms(words[0]);
    auto value = ts.is_ok() ? parse_sample_value(words[1]) : Result<double>(ts.status());
    if (!value.is_ok()) {
      reject(report, where, value.status(), 1);
      continue;
    }

    std::string key = format_series(prefix->labels);
    auto found = pending.index.find(key);
    size_t series_bytes = kSeriesOverheadBytes;
    for (const Label& l : prefix->labels) {
      series_bytes += l.name.size() + l.value.size() + kLabelOverheadBytes;
    }
    bool is_new = found == pending.index.end();
    if (pending.samples == api::MAX_SAMPLES_PER_WRITE ||
        (is_new && (pending.series.size() == api::MAX_SERIES_PER_WRITE ||
                    pending.bytes + series_bytes + kSampleBytes > kMaxBatchBytes))) {
      flush(pending, report, failure);
      if (!failure.is_ok()) break;
      is_new = true;
    }
    uint32_t at = 0;
    if (is_new) {
      at = static_cast<uint32_t>(pending.series.size());
      pending.index.emplace(std::move(key), at);
      pending.series.push_back(Series{std::move(prefix->labels), {}});
      pending.lines.emplace_back();
      pending.bytes += series_bytes;
    } else {
      at = found->second;
    }
    pending.series[at].samples.push_back({*ts, *value});
    pending.lines[at].push_back(line_number);
    pending.samples += 1;
    pending.bytes += kSampleBytes;
  }
  if (failure.is_ok()) flush(pending, report, failure);
  return finish_write(report, failure);
}

int Cli::ts_read(const Command& command, const Args& args) {
  int exit_code = 0;
  std::optional<uint32_t> limit = list_limit(command, args, exit_code);
  if (!limit) return exit_code;
  auto labels = parse_series(args.operands[0]);
  if (!labels.is_ok()) {
    return usage_error("bad series '" + args.operands[0] + "': " + labels.status().message(),
                       command.usage());
  }
  int64_t bounds[2] = {0, 0};
  const char* names[2] = {"--from", "--to"};
  for (int b = 0; b < 2; ++b) {
    const std::string* text = args.option(names[b]);
    if (text == nullptr) return usage_error(std::string("missing ") + names[b], command.usage());
    auto ms = parse_timestamp_ms(*text);
    if (!ms.is_ok()) {
      return usage_error(std::string(names[b]) + ": " + ms.status().message(), command.usage());
    }
    bounds[b] = *ms;
  }
  auto c = client();
  if (!c.is_ok()) return fail(c.status());

  std::vector<Sample> samples;
  int64_t from_ms = bounds[0];
  bool more = true;
  // Every page but the last adds at least one sample, so at most limit pages.
  while (more && samples.size() < *limit) {
    uint32_t want = std::min<uint32_t>(*limit - samples.size(), api::MAX_READ_SAMPLES);
    auto page = (*c)->metrics_read(*labels, from_ms, bounds[1], want);
    if (!page.is_ok()) return fail(page.status());
    more = page->more;
    if (page->samples.empty()) break;
    int64_t last_ms = page->samples.back().timestamp_ms;
    samples.insert(samples.end(), page->samples.begin(), page->samples.end());
    if (last_ms == std::numeric_limits<int64_t>::max()) break;
    from_ms = last_ms + 1;
  }
  if (samples.size() > *limit) samples.resize(*limit);
  if (json_) {
    JsonWriter json;
    json.begin_object().key("series").string(format_series(*labels)).key("samples").begin_array();
    for (const Sample& s : samples) {
      json.begin_object().key("timestamp_ms").number(s.timestamp_ms).key("value").number(s.value);
      json.end_object();
    }
    json.end_array().key("more").boolean(more).end_object();
    return print_json(json);
  }
  for (const Sample& s : samples)
    out_ << s.timestamp_ms << " " << format_sample_value(s.value) << "\n";
  if (more) out_ << "(more)\n";
  return 0;
}

int Cli::ts_query(const Command& command, const Args& args) {
  int64_t values[3] = {0, 0, 0};
  const char* names[3] = {"--from", "--to", "--step"};
  for (int b = 0; b < 3; ++b) {
    const std::string* text = args.option(names[b]);
    if (text == nullptr) return usage_error(std::string("missing ") + names[b], command.usage());
    auto ms = parse_timestamp_ms(*text);
    if (!ms.is_ok()) {
      return usage_error(std::string(names[b]) + ": " + ms.status().message(), command.usage());
    }
    values[b] = *ms;
  }
  if (values[2] <= 0) return usage_error("--step must be positive", command.usage());
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  auto result = (*c)->metrics_query(args.operands[0], values[0], values[1], values[2]);
  if (!result.is_ok()) return fail(result.status());
  if (json_) {
    JsonWriter json;
    json.begin_object().key("series").begin_array();
    for (const QuerySeries& s : result->series) {
      json.begin_object().key("labels").begin_object();
      for (const Label& l : s.labels) json.key(l.name).string(l.value);
      json.end_object().key("points").begin_array();
      for (const Sample& p : s.points) {
        json.begin_object().key("timestamp_ms").number(p.timestamp_ms).key("value").number(p.value);
        json.end_object();
      }
      json.end_array().end_object();
    }
    json.end_array().key("samples_loaded").number(result->samples_loaded).end_object();
    return print_json(json);
  }
  for (const QuerySeries& s : result->series) {
    std::string name = format_series(s.labels);
    out_ << printable(name.empty() ? "{}" : name) << "\n";
    for (const Sample& p : s.points) {
      out_ << "  " << p.timestamp_ms << " " << format_sample_value(p.value) << "\n";
    }
  }
  return 0;
}

int Cli::status(const Command&, const Args&) {
  auto c = client();
  if (!c.is_ok()) return fail(c.status());
  auto s = (*c)->status();
  if (!s.is_ok()) return fail(s.status());
  // Counters by group, in output order; storage.sync_writes follows the storage group's.
  using Counters = std::vector<std::pair<const char*, uint64_t>>;
  const Counters storage = {{"commit_groups", s->storage.commit_groups},
                            {"committed_batches", s->storage.committed_batches},
                            {"live_data_bytes", s->storage.live_data_bytes}};
  const Counters time_series = {{"series_in_memory", s->time_series.series_in_memory},
                                {"head_bytes", s->time_series.head_bytes},
                                {"wal_bytes", s->time_series.wal_bytes},
                                {"wal_records", s->time_series.wal_records},
                                {"sealed_blocks", s->time_series.sealed_blocks},
                                {"rewritten_blocks", s->time_series.rewritten_blocks}};
  if (json_) {
    JsonWriter json;
    json.begin_object()
        .key("node_id")
        .string(format_id(s->node_id))
        .key("cluster_id")
        .string(format_id(s->cluster_id))
        .key("version")
        .string(s->version)
        .key("rpc_address")
        .string(s->rpc_address)
        .key("peer_address")
        .string(s->peer_address)
        .key("data_dir")
        .string(s->data_dir)
        .key("uptime_ms")
        .number(s->uptime_ms)
        .key("active_clients")
        .number(s->active_clients);
    json.key("storage").begin_object();
    for (const auto& [name, value] : storage) json.key(name).number(value);
    json.key("sync_writes").boolean(s->storage.sync_writes).end_object();
    json.key("time_series").begin_object();
    for (const auto& [name, value] : time_series) json.key(name).number(value);
    json.end_object().end_object();
    return print_json(json);
  }
  out_ << "node_id: " << format_id(s->node_id) << "\n"
       << "cluster_id: " << format_id(s->cluster_id) << "\n"
       << "version: " << printable(s->version) << "\n"
       << "rpc_address: " << printable(s->rpc_address) << "\n"
       << "peer_address: " << printable(s->peer_address) << "\n"
       << "data_dir: " << printable(s->data_dir) << "\n"
       << "uptime_ms: " << s->uptime_ms << "\n"
       << "active_clients: " << s->active_clients << "\n";
  for (const auto& [name, value] : storage) out_ << "storage." << name << ": " << value << "\n";
  out_ << "storage.sync_writes: " << (s->storage.sync_writes ? "true" : "false") << "\n";
  for (const auto& [name, value] : time_series) {
    out_ << "time_series." << name << ": " << value << "\n";
  }
  return 0;
}

int Cli::help(const Command&, const Args&) {
  out_ << cli_usage();
  return 0;
}

}  // namespace

std::string cli_usage() {
  std::string text = "usage: " + std::string(kGlobalSynopsis) + "\n\n";
  text +=
      "options:\n"
      "  --addr HOST:PORT  the node to talk to (default: $MELD_ADDR, else 127.0.0.1:7400)\n"
      "  --json            print one JSON document instead of text\n"
      "  --timeout-ms N    give up on each call after N ms (default 10000)\n\n"
      "counter add/inc/dec and set add/remove are retry-safe: each invocation sends one random\n"
      "request id and, after a lost connection or a timeout, resends the same id (" +
      std::to_string(kUpdateAttemptsMax) +
      " attempts in\n"
      "all), so the update applies once.\n\n"
      "commands:\n";
  for (const Command& c : commands()) {
    std::string line = std::string(c.group);
    if (!c.name.empty()) line += " " + std::string(c.name);
    if (!c.synopsis.empty()) line += " " + std::string(c.synopsis);
    text += "  " + line + "\n      " + std::string(c.summary) + "\n";
  }
  text +=
      "\n"
      "SERIES is a selector such as 'cpu_seconds{host=\"a\",mode=\"idle\"}' or 'up'. TS is in\n"
      "milliseconds since the epoch; VALUE is a float, NaN, +Inf or -Inf. Lists print one entry\n"
      "per line, bytes other than printable ASCII as \\xHH. Use -- before a KEY that starts\n"
      "with --.\n"
      "EXPR is a PromQL subset: selectors with = != =~ !~ ('cpu{mode!=\"idle\"}'),\n"
      "rate|increase|min|max|sum|count|avg_over_time(SELECTOR[5m]), quantile_over_time(Q, ...),\n"
      "and sum|min|max|avg|count|quantile(Q,) by|without (LABELS) (EXPR). `ts query` prints each\n"
      "result series on a line, then its points as '  TS VALUE' lines.\n"
      "exit status: 0 success, 1 the operation failed, 2 usage error.\n";
  return text;
}

int run_cli(const std::vector<std::string>& args, const CliContext& context) {
  return Cli(context).run(args);
}

}  // namespace meld::client
