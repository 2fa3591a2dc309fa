#include "timeseries/merge.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <utility>

#include "base/assert.h"

namespace meld::ts {

bool duplicate_wins(double a, double b) {
  return std::bit_cast<uint64_t>(a) > std::bit_cast<uint64_t>(b);
}

void sort_and_resolve(std::vector<Sample>* samples) {
  // Within one timestamp, the winner sorts first; unique() then keeps the first of each run.
  std::sort(samples->begin(), samples->end(), [](const Sample& a, const Sample& b) {
    if (a.timestamp_ms != b.timestamp_ms) return a.timestamp_ms < b.timestamp_ms;
    return duplicate_wins(a.value, b.value);
  });
  auto end = std::unique(samples->begin(), samples->end(), [](const Sample& a, const Sample& b) {
    return a.timestamp_ms == b.timestamp_ms;
  });
  samples->erase(end, samples->end());
}

std::vector<Sample> merge_samples(std::span<const Sample> run, std::vector<Sample> late) {
  for (size_t i = 1; i < run.size(); ++i) {
    MELD_ASSERT(run[i - 1].timestamp_ms < run[i].timestamp_ms, "run is not strictly increasing");
  }
  sort_and_resolve(&late);
  std::vector<Sample> out;
  out.reserve(run.size() + late.size());
  size_t i = 0;
  size_t j = 0;
  while (i < run.size() || j < late.size()) {
    if (j == late.size() || (i < run.size() && run[i].timestamp_ms < late[j].timestamp_ms)) {
      out.push_back(run[i++]);
    } else if (i == run.size() || late[j].timestamp_ms < run[i].timestamp_ms) {
      out.push_back(late[j++]);
    } else {
      out.push_back(duplicate_wins(late[j].value, run[i].value) ? late[j] : run[i]);
      ++i;
      ++j;
    }
  }
  return out;
}

}  // namespace meld::ts
