// A history of client operations as Jepsen records them, for the linearizability checker.
//
// Each operation belongs to one client process, is invoked at some time and completes in one of
// three ways: `ok` (it happened, with this result), `fail` (it definitely did not happen) or
// `info` (unknown: it may or may not have happened, at any time after its invocation; its process
// is never used again). Operations act on one key's register: read, write, compare-and-set.
//
// Times are integers on one monotonic clock shared by every client of a history: simulated time
// in the simulator, steady-clock nanoseconds on real processes. Op A precedes op B in real time
// when A completed strictly before B was invoked (A.complete_time < B.invoke_time); equal times
// count as concurrent, so a coarse clock never invents an order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/status.h"

namespace meld::jepsen {

enum class OpFunction : uint8_t { kRead, kWrite, kCas };
enum class OpOutcome : uint8_t { kOk, kFail, kInfo };

// "read", "write", "cas" / "ok", "fail", "info": the names used by the text form.
std::string_view op_function_name(OpFunction function);
std::string_view op_outcome_name(OpOutcome outcome);

// complete_time of an info op that was still outstanding when the history was taken.
inline constexpr int64_t kNeverCompleted = std::numeric_limits<int64_t>::max();

// Longest key accepted in a history, and most operations a parsed history may hold by default.
inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr size_t kDefaultMaxOps = 10'000'000;

struct Op {
  int64_t process = 0;
  std::string key;
  OpFunction function = OpFunction::kRead;
  OpOutcome outcome = OpOutcome::kOk;
  // write: the value written. cas: the value set when the register holds `expected`.
  int64_t value = 0;
  // cas only: the value the register must hold for the cas to apply. A cas that found another
  // value did not happen, so it is recorded as `fail`.
  int64_t expected = 0;
  // ok read only: the value read; nullopt when the key held no value.
  std::optional<int64_t> read_value;
  int64_t invoke_time = 0;
  // For info ops the time the client gave up (or kNeverCompleted); the checker ignores it.
  int64_t complete_time = 0;

  friend bool operator==(const Op&, const Op&) = default;
};

// Operations in the order they were invoked (the order is for humans; the checker uses times).
using History = std::vector<Op>;

// Checks what the checker relies on: non-negative times; invoke_time <= complete_time for ok and
// fail ops; keys of at most kMaxKeyBytes; a read_value only on ok reads; the ops of one process
// do not overlap in time, and none follows an info op of that process. Returns invalid_argument
// naming the first offending op (its index in `history`).
Status validate_history(const History& history);

// One op per line, as a JSON object with the fields of Op, e.g.
//   {"process":3,"key":"k1","f":"cas","outcome":"ok","expected":1,"value":2,"invoke":10,"complete":20}
//   {"process":4,"key":"k1","f":"read","outcome":"ok","read":null,"invoke":11,"complete":12}
// Fields that do not apply to the op's function are left out.
std::string format_op(const Op& op);
std::string format_history(const History& history);

// Parses the form format_history writes (blank lines are skipped). The input is untrusted: every
// malformed, unknown, duplicate, missing or out-of-range field is an invalid_argument naming the
// line; more than max_ops ops is resource_exhausted. The parsed history passes validate_history.
Result<History> parse_history(std::string_view text, size_t max_ops = kDefaultMaxOps);

// Records a history from concurrent clients. A client calls invoke() before it sends a request
// and one of complete_ok() / complete_fail() / complete_info() after it learns the outcome (or
// gives up), passing times read from the shared clock at those moments. Thread-safe; no call
// blocks on anything but the recorder's own mutex.
class HistoryRecorder {
 public:
  // Holds at most max_ops ops; the recorder allocates as ops arrive.
  explicit HistoryRecorder(size_t max_ops);

  // Identifies an invoked op until it completes.
  using OpId = size_t;

  // Records the invocation of `op` (its outcome, read_value and complete_time are ignored).
  // resource_exhausted when max_ops ops are recorded; invalid_argument when the process has an
  // op outstanding or was retired by an info op, or the key is longer than kMaxKeyBytes.
  Result<OpId> invoke(const Op& op);
  // read_value is the value an ok read returned (nullopt: no value); it must be nullopt for
  // writes and cas. invalid_argument for an unknown or already completed id, a time before the
  // invocation, or a read_value on a write or cas.
  Status complete_ok(OpId id, std::optional<int64_t> read_value, int64_t complete_time);
  Status complete_fail(OpId id, int64_t complete_time);
  // Retires the op's process: invoke() refuses it from now on.
  Status complete_info(OpId id, int64_t complete_time);

  // The ops so far in invocation order; ops still outstanding appear as info with
  // complete_time = kNeverCompleted.
  History history() const;
  size_t size() const;

 private:
  Status complete(OpId id, OpOutcome outcome, std::optional<int64_t> read_value,
                  int64_t complete_time);

  const size_t max_ops_;
  mutable std::mutex mu_;
  History ops_;
  std::vector<bool> completed_;
  std::unordered_set<int64_t> busy_processes_;     // processes with an op outstanding
  std::unordered_set<int64_t> retired_processes_;  // processes that completed an op as info
};

}  // namespace meld::jepsen
