// Series identity: a metric name plus labels, validated by Prometheus' rules, kept in one
// canonical form, encoded canonically, and hashed into a series id.
//
// Rules (Prometheus data model, https://prometheus.io/docs/concepts/data_model/):
//   - the metric name is the value of the label "__name__" and matches [a-zA-Z_:][a-zA-Z0-9_:]*;
//   - label names match [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__" are reserved for the
//     system, except "__name__";
//   - values are valid UTF-8; an empty value means the label is absent (it is dropped);
//   - limits below: at most kLabelsMax labels (the metric name included), names at most
//     kLabelNameBytesMax bytes, values at most kLabelValueBytesMax bytes. They equal the
//     constants of schemas/api.capnp (maxLabels, maxLabelNameBytes, maxLabelValueBytes); the
//     service that speaks the API static_asserts that.
//
// Canonical form: sorted by name, each name once, no empty values. Canonical encoding: for each
// label in canonical order, a 4-byte big-endian name length, the name, a 4-byte big-endian value
// length, the value. The series id is XXH64 (seed 0) of the canonical encoding; two different
// label sets can share an id (a collision), so a store must compare the encodings, never merge on
// the id alone.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace meld::ts {

inline constexpr uint32_t kLabelsMax = 32;  // labels per series, __name__ included
inline constexpr uint32_t kLabelNameBytesMax = 128;
inline constexpr uint32_t kLabelValueBytesMax = 2048;
inline constexpr std::string_view kMetricNameLabel = "__name__";
// The largest canonical encoding a valid label set can have.
inline constexpr size_t kLabelsEncodedBytesMax =
    size_t{kLabelsMax} * (8 + kLabelNameBytesMax + kLabelValueBytesMax);

struct Label {
  std::string name;
  std::string value;

  friend auto operator<=>(const Label&, const Label&) = default;
  friend bool operator==(const Label&, const Label&) = default;
};

// [a-zA-Z_:][a-zA-Z0-9_:]*, non-empty.
bool is_metric_name(std::string_view s);
// [a-zA-Z_][a-zA-Z0-9_]*, non-empty (says nothing about the reserved "__" prefix).
bool is_label_name(std::string_view s);
bool is_valid_utf8(std::string_view s);

// A label set in canonical form. A plain value; immutable once built. Every Labels object holds
// a valid set: names and values follow the rules above and the limits hold, but the metric name
// may be missing (query results drop it; a stored series requires it, see make_series()). (One
// from decode_stored() holds the characters its store wrote, checked when they were written.)
class Labels {
 public:
  // The empty set.
  Labels() = default;

  // Validates and canonicalizes labels (any order; empty values are dropped). Errors
  // (invalid_argument, naming the label): an invalid or reserved name, an invalid metric name,
  // a value that is not UTF-8, a name given twice, a limit exceeded.
  static Result<Labels> make(std::vector<Label> labels);
  // make(), and the set must have a metric name: the label set of a series to store.
  static Result<Labels> make_series(std::vector<Label> labels);
  // Parses a canonical encoding (untrusted bytes: from disk or the network). Errors: corruption
  // when the bytes are not a canonical encoding of a valid label set (truncated, unsorted,
  // duplicate or empty values, invalid names, limits).
  static Result<Labels> decode(std::string_view bytes);
  // Parses a canonical encoding that a store made with encode() and reads back from its own
  // disk. It checks what decode() checks except the character rules (name syntax, reserved
  // names, UTF-8 values), which held when the labels were made: corruption for bytes that are
  // truncated, unsorted, hold duplicate names, an empty name or value, or exceed a limit. So a
  // damaged encoding never breaks the structure of the result, but characters damaged without
  // changing any length come back as they read (RocksDB's block checksums catch damage on the
  // medium). About a third cheaper than decode(), for queries that read the labels of every
  // series they select.
  static Result<Labels> decode_stored(std::string_view bytes);

  std::span<const Label> labels() const { return labels_; }
  size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  // The value of the label, or "" when absent (Prometheus: absent and empty are the same).
  std::string_view get(std::string_view name) const;
  std::string_view metric_name() const { return get(kMetricNameLabel); }

  // The canonical encoding, and its XXH64.
  std::string encode() const;
  uint64_t series_id() const;

  // The set without the metric name.
  Labels without_metric_name() const;
  // Only the labels whose names are in names (any order, duplicates allowed): `by (...)`.
  Labels keep_only(std::span<const std::string> names) const;
  // The set without the labels whose names are in names and without the metric name:
  // `without (...)`.
  Labels drop(std::span<const std::string> names) const;

  // `{__name__="up", job="a\"b"}` style text for messages, or `up{job="a\"b"}`.
  std::string to_string() const;

  // Lexicographic by (name, value) pairs, the order query results come in.
  friend auto operator<=>(const Labels&, const Labels&) = default;
  friend bool operator==(const Labels&, const Labels&) = default;

 private:
  explicit Labels(std::vector<Label> canonical) : labels_(std::move(canonical)) {}
  // decode() with check_characters, decode_stored() without.
  static Result<Labels> decode_canonical(std::string_view bytes, bool check_characters);

  std::vector<Label> labels_;
};

// XXH64 of a canonical encoding (the same as Labels::series_id() for its labels).
uint64_t series_id_of_encoding(std::string_view canonical_encoding);

}  // namespace meld::ts
