#pragma once

// Errors as values across the plugin's module boundaries.

#include <string>
#include <utility>
#include <variant>

namespace ascend::plugin {

/// What kind of failure an Error is; the gRPC server maps these onto gRPC status codes.
enum class ErrorCode {
  kInvalidArgument,     ///< the caller asked for something that cannot exist
  kFailedPrecondition,  ///< the request is well formed but the state forbids it
  kUnavailable,         ///< a dependency (driver, kubelet) is not there right now
  kInternal,            ///< a bug or an unexpected system failure
};

/// A failure with a message that says what went wrong and what the user can do.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

/// Either a value or an Error. Guarantees: exactly one of the two is present.
template <typename T>
class [[nodiscard]] Result final {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  /// True when a value is present.
  bool ok() const { return std::holds_alternative<T>(state_); }
  /// The value. Assumes ok().
  const T& value() const& { return std::get<T>(state_); }
  /// The value, moved out. Assumes ok().
  T&& value() && { return std::get<T>(std::move(state_)); }
  /// The error. Assumes !ok().
  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

/// Result of an operation that produces no value.
struct Ok {};
using Status = Result<Ok>;

}  // namespace ascend::plugin
