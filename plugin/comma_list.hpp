#pragma once

// Lists written as one comma-separated string: flag and environment values
// (--driver-mounts=/a,/b), device lists in log fields (devices=Ascend910-0,Ascend910-1) and
// ASCEND_VISIBLE_DEVICES=0,1.

#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ascend::plugin {

/// The items as text, `separator` between them ("" for no items); `format` turns an item into
/// text.
template <typename Range, typename Format,
          typename = std::enable_if_t<
              std::is_invocable_v<Format, decltype(*std::begin(std::declval<const Range&>()))>>>
std::string join(const Range& items, Format format, std::string_view separator = ",") {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += separator;
    out += format(item);
    first = false;
  }
  return out;
}

/// The items (strings or numbers) as text, `separator` between them: {0, 1} -> "0,1".
template <typename Range>
std::string join(const Range& items, std::string_view separator = ",") {
  return join(
      items,
      [](const auto& item) {
        if constexpr (std::is_arithmetic_v<std::decay_t<decltype(item)>>) {
          return std::to_string(item);
        } else {
          return std::string(item);
        }
      },
      separator);
}

/// The non-empty items of a comma-separated string, each trimmed of blanks: " a, ,b" -> {a, b}.
std::vector<std::string> split(const std::string& text);

}  // namespace ascend::plugin
