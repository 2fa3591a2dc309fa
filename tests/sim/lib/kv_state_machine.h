// The replicated state machine of the simulator: one integer register per key, changed by
// committed write and compare-and-set commands. It also keeps a running digest of every entry
// applied (a hash chain over index, term, type and payload), so two nodes that applied the same
// index hold the same digest exactly when they applied the same entries up to it; snapshots carry
// the digest along.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "consensus/types.h"

namespace meld::sim {

enum class CommandKind : uint8_t { kWrite, kCas };

// A client command carried in a normal log entry's payload.
struct Command {
  uint64_t op_id = 0;  // unique per client operation
  CommandKind kind = CommandKind::kWrite;
  std::string key;  // no whitespace
  int64_t value = 0;
  int64_t expected = 0;  // kCas only
};

std::string encode_command(const Command& command);
// invalid_argument for anything encode_command did not produce.
Result<Command> decode_command(std::string_view data);

// What applying one entry did, for the client that proposed it.
struct ApplyResult {
  std::optional<Command> command;  // nullopt for no-ops and membership changes
  bool took_effect = false;        // a write, or a cas that found `expected`
};

class KvStateMachine {
 public:
  // Applies the next committed entry. Precondition: entry.index == applied_index() + 1.
  // invalid_argument for a normal entry whose payload is not a Command.
  Result<ApplyResult> apply(const consensus::Entry& entry);

  std::optional<int64_t> get(const std::string& key) const;
  uint64_t applied_index() const { return applied_index_; }
  uint64_t digest() const { return digest_; }

  // The snapshot payload, and the state it encodes (invalid_argument when malformed).
  std::string encode() const;
  static Result<KvStateMachine> decode(std::string_view data);

  // A state machine at `index` with no key set (bootstrap).
  static KvStateMachine at_index(uint64_t index);

  friend bool operator==(const KvStateMachine&, const KvStateMachine&) = default;

 private:
  uint64_t applied_index_ = 0;
  uint64_t digest_ = 0;
  std::map<std::string, int64_t> values_;
};

// The digest that follows `digest` when `entry` is applied.
uint64_t chain_digest(uint64_t digest, const consensus::Entry& entry);

}  // namespace meld::sim
