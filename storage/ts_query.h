// The query engine's data source over a TsStore: series chosen through the postings index,
// samples from sealed blocks and heads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "storage/ts_store.h"
#include "timeseries/query.h"

namespace meld::storage {

// Selection: each matcher that does not match the empty value gives a candidate set (an `=`
// matcher one postings list; any other the union of the postings of the label values it
// matches: for a `=~` alternation of literals (`a|b`) a lookup per literal, else the values found
// by listing the label's values, not its series, only those within the regex's possible match
// range when RE2 gives one, e.g. a prefix `api.*`); the sets are intersected, and every
// candidate's full label set is then checked against all matchers. The sets are read in the
// order of their likely cost: `=` matchers, then regexes with a match range, then alternations,
// then the rest; once the intersection holds at most kCandidatesCheckedDirectly series, the
// remaining matchers' postings are not read (the label check covers them), so a broad matcher
// next to a narrow one costs nothing. With no such matcher every series is a candidate. A
// postings list, candidate set or label value listing longer than postings_max fails the query
// with resource_exhausted.
//
// Thread: the store's. The store is borrowed for the source's lifetime.
class TsStoreSource final : public ts::SeriesSource {
 public:
  static constexpr size_t kDefaultPostingsMax = 1000000;
  static constexpr size_t kCandidatesCheckedDirectly = 256;

  explicit TsStoreSource(TsStore& store, size_t postings_max = kDefaultPostingsMax)
      : store_(store), postings_max_(postings_max) {}

  Result<std::vector<ts::SourceSeries>> select(std::span<const ts::Matcher> matchers,
                                               int64_t mint_ms, int64_t maxt_ms,
                                               size_t series_max) override;
  Result<std::vector<ts::Sample>> samples(uint64_t ref, int64_t mint_ms, int64_t maxt_ms,
                                          size_t samples_max) override;

 private:
  // The ids of the series whose label matcher.name() has a value the matcher accepts.
  Status candidates(const ts::Matcher& matcher, std::vector<uint64_t>* ids);

  TsStore& store_;
  size_t postings_max_;
};

}  // namespace meld::storage
