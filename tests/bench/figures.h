// meld-bench's standard output as the tests read it: one `name: value` line per figure, in order.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace meld::bench::testing {

// (name, value) of each line of out; a line without ": " fails the calling test.
inline std::vector<std::pair<std::string, std::string>> figures_of(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> figures;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string::npos) << line;
    if (colon != std::string::npos) {
      figures.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
  }
  return figures;
}

}  // namespace meld::bench::testing
