// What raft_log_crash_writer writes, shared with the test that checks it after a crash.
#pragma once

#include <cstdint>
#include <string>

namespace meld::storage {

// The term of entry `index` (a new term every 64 entries).
inline uint64_t crash_writer_term(uint64_t index) {
  return 1 + index / 64;
}
inline std::string crash_writer_data(uint64_t group, uint64_t index) {
  return "g" + std::to_string(group) + "-i" + std::to_string(index);
}
// The state machine's key for an applied entry: "sm/", then the group and index big-endian, so
// that a group's keys sort by index.
inline std::string crash_writer_kv_key(uint64_t group, uint64_t index) {
  std::string k = "sm/";
  for (uint64_t v : {group, index}) {
    for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>(v >> shift));
  }
  return k;
}

}  // namespace meld::storage
