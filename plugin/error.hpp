#pragma once

// The plugin's failures as kube::Error values: the same Result and Status as kube/ and
// operator/, with the four kinds of failure the plugin reports as reasons. No plugin failure
// comes from an HTTP server, so `code` carries the HTTP status that means the same thing;
// the gRPC server maps the reasons onto gRPC status codes (server.cpp).

#include <string>
#include <string_view>
#include <utility>

#include "kube/error.hpp"

namespace ascend::plugin {

using kube::Error;
using kube::Result;
using kube::Status;

/// The caller asked for something that cannot exist (HTTP 400, gRPC INVALID_ARGUMENT).
inline constexpr std::string_view kInvalidArgument = "InvalidArgument";
/// The request is well formed but the state forbids it (HTTP 412, gRPC FAILED_PRECONDITION).
inline constexpr std::string_view kFailedPrecondition = "FailedPrecondition";
/// A dependency (driver, kubelet, socket) is not there right now (HTTP 503, gRPC UNAVAILABLE).
inline constexpr std::string_view kUnavailable = "Unavailable";
/// A bug or an unexpected system failure (HTTP 500, gRPC INTERNAL).
inline constexpr std::string_view kInternal = "Internal";

/// An Error with reason kInvalidArgument and code 400.
inline Error invalid_argument(std::string message) {
  return Error{400, std::string(kInvalidArgument), std::move(message)};
}
/// An Error with reason kFailedPrecondition and code 412.
inline Error failed_precondition(std::string message) {
  return Error{412, std::string(kFailedPrecondition), std::move(message)};
}
/// An Error with reason kUnavailable and code 503 (retryable()).
inline Error unavailable(std::string message) {
  return Error{503, std::string(kUnavailable), std::move(message)};
}
/// An Error with reason kInternal and code 500.
inline Error internal(std::string message) {
  return Error{500, std::string(kInternal), std::move(message)};
}

}  // namespace ascend::plugin
