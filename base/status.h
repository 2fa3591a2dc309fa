// Status and Result<T>: errors as values for everything that can go wrong in normal operation
// (a missing key, a full queue, a malformed frame, a disk error). Bugs use MELD_ASSERT instead.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace meld {

enum class StatusCode : int {
  kOk = 0,
  kNotFound,
  kInvalidArgument,
  kAlreadyExists,
  kResourceExhausted,  // a bound was hit: queue full, limit exceeded
  kUnavailable,        // peer or node unreachable, shutting down; retry may succeed
  kIoError,
  kCorruption,
  kBusy,  // resource held by someone else (e.g. a locked data directory)
  kAborted,
  kDeadlineExceeded,
  kInternal,
};

// Stable lower_snake_case name of a code ("not_found"), used on the wire and in logs.
std::string_view status_code_name(StatusCode code);
// Inverse of status_code_name; kInternal for an unknown name.
StatusCode status_code_from_name(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status invalid_argument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status resource_exhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status busy(std::string m) { return {StatusCode::kBusy, std::move(m)}; }
  static Status aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  static Status deadline_exceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "not_found: key 'x'" or "ok".
  std::string to_string() const;

  // Marks a status as deliberately dropped, for the rare call site where failure is harmless.
  void ignore() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    MELD_ASSERT(!std::get<Status>(v_).is_ok(), "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    MELD_ASSERT(is_ok(), "value() on error Result: " + std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  const T& value() const& {
    MELD_ASSERT(is_ok(), "value() on error Result: " + std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  T&& value() && {
    MELD_ASSERT(is_ok(), "value() on error Result: " + std::get<Status>(v_).to_string());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace meld

// Returns early from the enclosing function with the status when it is not ok.
#define MELD_RETURN_IF_ERROR(expr)                          \
  do {                                                      \
    ::meld::Status meld_status_tmp_ = (expr);               \
    if (!meld_status_tmp_.is_ok()) return meld_status_tmp_; \
  } while (0)
