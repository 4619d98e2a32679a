// Status and Result<T>: the one error vocabulary of kvstash.
//
// Every fallible function returns a Status or a Result<T>; no exception crosses a library, C
// or plugin boundary. A Status is cheap to pass when OK (no allocation) and carries a code and
// a human-readable message otherwise. Both types are [[nodiscard]]: dropping an error is a
// compile warning.
//
// Thread safety: immutable values; safe to copy between threads.
#ifndef KVSTASH_STATUS_H_
#define KVSTASH_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kvstash {

// Stable numeric values: they travel on the wire (docs/PROTOCOL.md) and through the C API.
enum class StatusCode : uint8_t {
  kOk = 0,
  kNotFound = 1,           // key absent (a miss)
  kAlreadyExists = 2,      // key already committed: blocks are written once
  kBusy = 3,               // another writer holds the key (ALLOCATED)
  kResourceExhausted = 4,  // no space, too many requests, over a limit
  kInvalidArgument = 5,    // malformed input, bad size, bad key
  kDataLoss = 6,           // checksum mismatch, torn or corrupted data
  kIOError = 7,            // the device failed
  kUnavailable = 8,        // peer down, connection lost, shutting down
  kPermissionDenied = 9,   // bad token or namespace
  kLeaseExpired = 10,      // the allocation's lease ran out before commit
  kTimeout = 11,           // the call's deadline passed
  kInternal = 12,          // a bug: an invariant did not hold
};

// Short name of a code, e.g. "NotFound".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m = {}) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m = {}) {
    return {StatusCode::kAlreadyExists, std::move(m)};
  }
  static Status Busy(std::string m = {}) { return {StatusCode::kBusy, std::move(m)}; }
  static Status ResourceExhausted(std::string m = {}) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status InvalidArgument(std::string m = {}) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status DataLoss(std::string m = {}) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status IOError(std::string m = {}) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m = {}) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status PermissionDenied(std::string m = {}) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status LeaseExpired(std::string m = {}) {
    return {StatusCode::kLeaseExpired, std::move(m)};
  }
  static Status Timeout(std::string m = {}) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status Internal(std::string m = {}) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool Is(StatusCode c) const { return code_ == c; }

  // "NotFound: <message>" or "OK".
  std::string ToString() const;

  // Marks an intentionally ignored status.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T>: a T or a non-OK Status (like absl::StatusOr). Accessing value() of an error is a
// bug and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return Check(), std::get<T>(v_); }
  const T& value() const& { return Check(), std::get<T>(v_); }
  T&& value() && { return Check(), std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void Check() const;
  std::variant<T, Status> v_;
};

[[noreturn]] void DieOnBadResultAccess(const Status& s);

template <typename T>
void Result<T>::Check() const {
  if (!ok()) DieOnBadResultAccess(std::get<Status>(v_));
}

}  // namespace kvstash

#define KVSTASH_CONCAT_INNER_(a, b) a##b
#define KVSTASH_CONCAT_(a, b) KVSTASH_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (a Status) is not OK. Prefixed, as every macro
// this public header defines, so that it cannot collide with a user's own (absl, Mooncake).
#define KVSTASH_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::kvstash::Status kvstash_status_ = (expr);        \
    if (!kvstash_status_.ok()) return kvstash_status_; \
  } while (0)

// KVSTASH_ASSIGN_OR_RETURN(auto x, MakeX()): binds the value or returns the error.
#define KVSTASH_ASSIGN_OR_RETURN(lhs, expr) \
  KVSTASH_ASSIGN_OR_RETURN_IMPL_(KVSTASH_CONCAT_(kvstash_result_, __LINE__), lhs, expr)
#define KVSTASH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

#endif  // KVSTASH_STATUS_H_
