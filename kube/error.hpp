// Errors as values: every call that can fail across a module boundary returns a Result.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ascend::kube {

/// One failure, described the way the Kubernetes API describes it (a decoded `Status` object)
/// or, for failures that never reached a server, with `code == 0` and a reason of our own.
struct Error {
  /// HTTP status code from the server; 0 when no response was received (transport, config).
  int code = 0;
  /// Kubernetes `StatusReason` (`Conflict`, `NotFound`, `Expired`, ...) or one of ours
  /// (`Transport`, `Timeout`, `Cancelled`, `InvalidConfig`, `Decode`, `Bind`).
  std::string reason;
  /// What happened and, where we know it, what the user should do about it.
  std::string message;

  [[nodiscard]] bool not_found() const { return code == 404; }
  [[nodiscard]] bool conflict() const { return code == 409; }
  [[nodiscard]] bool gone() const { return code == 410; }
  [[nodiscard]] bool already_exists() const { return code == 409 && reason == "AlreadyExists"; }
  /// Retrying the same request may succeed: no answer, 429, or a 5xx.
  [[nodiscard]] bool retryable() const { return code == 0 || code == 429 || code >= 500; }
  /// One line: `409 Conflict: the object has been modified`.
  [[nodiscard]] std::string to_string() const {
    std::string out = code != 0 ? std::to_string(code) + " " : std::string();
    return out + reason + ": " + message;
  }
};

/// Either a value or an Error. Cheap to move; check `ok()` before `value()`.
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }
  /// Precondition: ok().
  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  /// Precondition: !ok().
  [[nodiscard]] const Error& error() const { return std::get<1>(data_); }

 private:
  std::variant<T, Error> data_;
};

/// Success or an Error, for calls with nothing to return.
template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT

  [[nodiscard]] bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  /// Precondition: !ok().
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace ascend::kube
