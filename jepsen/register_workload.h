// Histories from a simulated key/value register service, correct or deliberately broken, to
// test the linearizability checker against an oracle and to benchmark it. A checker is trusted
// only after it catches broken builds: the bug switches below are those builds.
//
// Concurrent clients (one per slot, at most `processes` in flight) invoke reads, writes and cas
// ops on random keys; each op takes effect on the service's true state at one instant between its
// invocation and its completion, so with every bug switched off the history is linearizable. An
// op may be refused (fail, no effect) or lose its reply (info: took effect, or did not and may
// still take effect later); an info op retires its process and the slot gets a fresh one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/rng.h"
#include "jepsen/history.h"

namespace meld::jepsen {

struct RegisterWorkloadOptions {
  size_t ops = 1000;     // ops invoked in total
  size_t keys = 1;       // named "k0", "k1", ...
  size_t processes = 5;  // clients in flight at once
  uint32_t read_percent = 50;
  uint32_t write_percent = 30;  // the rest are cas
  // 0: every write and cas sets a fresh value. Otherwise values come from [1, value_range], so
  // values repeat and the search has more to explore.
  int64_t value_range = 0;
  double fail_probability = 0;  // an op is refused before it takes effect
  double info_probability = 0;  // an op's reply is lost
  // Bugs, each the probability that one op misbehaves:
  double stale_read_probability = 0;            // a read returns an earlier value of its key
  double lost_write_probability = 0;            // a write is acknowledged but never applied
  double cas_ignores_expected_probability = 0;  // a cas applies whatever the value was
};

// Deterministic for a given rng state. The history passes validate_history.
History generate_register_history(const RegisterWorkloadOptions& options, Rng& rng);

}  // namespace meld::jepsen
