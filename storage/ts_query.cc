#include "storage/ts_query.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace meld::storage {

namespace {

// The order in which select() reads candidate sets: one postings list, then an alternation's
// literals, then the values within a regex's match range, then every value of the label; of
// matchers alike, the metric name's last (a metric name usually has many series, an instance
// or host label few).
std::pair<int, bool> likely_cost(const ts::Matcher& matcher) {
  const bool metric_name = matcher.name() == ts::kMetricNameLabel;
  if (matcher.exact_value()) return {0, metric_name};
  std::string min, max;
  if (matcher.op() == ts::MatchOp::kRegexMatch) {
    if (matcher.literal_values()) return {1, metric_name};
    if (matcher.value_bounds(&min, &max)) return {2, metric_name};
  }
  return {3, metric_name};
}

}  // namespace

Status TsStoreSource::candidates(const ts::Matcher& matcher, std::vector<uint64_t>* ids) {
  if (auto exact = matcher.exact_value()) {
    return store_.postings(matcher.name(), *exact, postings_max_, ids);
  }
  // The values whose postings make the set: a regex's literal alternatives as written, else the
  // label's values that match, listed only within the regex's bounds when RE2 finds them.
  std::vector<std::string> values;
  std::optional<std::span<const std::string>> literals;
  if (matcher.op() == ts::MatchOp::kRegexMatch) literals = matcher.literal_values();
  if (literals) {
    values.assign(literals->begin(), literals->end());
  } else {
    std::string min, max;
    if (matcher.value_bounds(&min, &max)) {
      MELD_RETURN_IF_ERROR(store_.label_values(matcher.name(), min, max, postings_max_, &values));
    } else {
      MELD_RETURN_IF_ERROR(store_.label_values(matcher.name(), postings_max_, &values));
    }
    std::erase_if(values, [&](const std::string& value) { return !matcher.matches(value); });
  }
  ids->clear();
  std::vector<uint64_t> one;
  for (const std::string& value : values) {
    MELD_RETURN_IF_ERROR(store_.postings(matcher.name(), value, postings_max_, &one));
    ids->insert(ids->end(), one.begin(), one.end());
    if (ids->size() > postings_max_) {
      return Status::resource_exhausted("more than " + std::to_string(postings_max_) +
                                        " series match " + matcher.to_string());
    }
  }
  std::sort(ids->begin(), ids->end());
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  return Status::ok();
}

Result<std::vector<ts::SourceSeries>> TsStoreSource::select(std::span<const ts::Matcher> matchers,
                                                            int64_t, int64_t, size_t series_max) {
  std::vector<const ts::Matcher*> narrowing;
  for (const ts::Matcher& matcher : matchers) {
    if (!matcher.matches_empty()) narrowing.push_back(&matcher);
  }
  std::stable_sort(narrowing.begin(), narrowing.end(),
                   [](const auto* a, const auto* b) { return likely_cost(*a) < likely_cost(*b); });
  std::vector<uint64_t> ids;
  if (narrowing.empty()) {
    MELD_RETURN_IF_ERROR(store_.all_series(postings_max_, &ids));
  } else {
    MELD_RETURN_IF_ERROR(candidates(*narrowing[0], &ids));
    std::vector<uint64_t> set;
    std::vector<uint64_t> both;
    for (size_t i = 1; i < narrowing.size() && ids.size() > kCandidatesCheckedDirectly; ++i) {
      MELD_RETURN_IF_ERROR(candidates(*narrowing[i], &set));
      both.clear();
      std::set_intersection(ids.begin(), ids.end(), set.begin(), set.end(),
                            std::back_inserter(both));
      ids.swap(both);
    }
  }
  std::vector<ts::SourceSeries> selected;
  for (uint64_t id : ids) {
    auto labels = store_.series_labels(id);
    MELD_RETURN_IF_ERROR(labels.status());
    if (!ts::matches_all(matchers, *labels)) continue;
    selected.push_back({std::move(labels).value(), id});
    if (selected.size() > series_max) break;  // the engine reports the limit
  }
  return selected;
}

Result<std::vector<ts::Sample>> TsStoreSource::samples(uint64_t ref, int64_t mint_ms,
                                                       int64_t maxt_ms, size_t samples_max) {
  std::vector<ts::Sample> out;
  bool more = false;
  size_t cap = samples_max == SIZE_MAX ? SIZE_MAX : samples_max + 1;
  MELD_RETURN_IF_ERROR(store_.samples(ref, mint_ms, maxt_ms, cap, &out, &more));
  return out;
}

}  // namespace meld::storage
