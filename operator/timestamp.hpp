// metav1.Time on the wire: RFC 3339 in UTC with second precision, e.g. 2025-01-02T03:04:05Z.
#pragma once

#include <optional>
#include <string>

#include "kube/clock.hpp"

namespace ascend::op {

/// Formats `t` as metav1.Time (`2025-01-02T03:04:05Z`), truncated to the second.
std::string format_time(kube::WallTime t);

/// Parses metav1.Time (`Z` or a numeric offset; fractional seconds are accepted and dropped).
/// std::nullopt when the text is not RFC 3339.
std::optional<kube::WallTime> parse_time(const std::string& text);

}  // namespace ascend::op
