// How node, cluster and range ids are written for people: 16 lowercase hex digits, everywhere
// (logs, meldd's ready line, meldctl). Decimal 64-bit ids lose precision in JSON tools.
#pragma once

#include <cstdint>
#include <string>

namespace meld {

std::string format_id(uint64_t id);

}  // namespace meld
