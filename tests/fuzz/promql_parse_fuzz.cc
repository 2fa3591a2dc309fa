// libFuzzer target for the PromQL subset's parser (query text is untrusted client input). Any
// input must end in invalid_argument or in an expression whose canonical text parses back to an
// equal expression with the same canonical text; never a crash, a sanitizer report, an exception
// or a stack overflow (nesting is bounded).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "timeseries/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto expr = meld::ts::parse_query(text);
  if (!expr.is_ok()) {
    MELD_ASSERT(expr.status().code() == meld::StatusCode::kInvalidArgument,
                "parse error is not invalid_argument: " + expr.status().to_string());
    return 0;
  }
  const std::string formatted = meld::ts::format_query(*expr);
  auto again = meld::ts::parse_query(formatted);
  MELD_ASSERT(again.is_ok(),
              "canonical text does not parse: " + formatted + ": " + again.status().to_string());
  MELD_ASSERT(*again == *expr, "canonical text parses to another expression: " + formatted);
  MELD_ASSERT(meld::ts::format_query(*again) == formatted, "canonical text is not stable");
  return 0;
}
