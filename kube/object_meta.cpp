#include "kube/object_meta.hpp"

#include <array>
#include <cstdio>
#include <ctime>

namespace ascend::kube {
namespace {

const Json* metadata_of(const Json& object) {
  if (!object.is_object()) return nullptr;
  const auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return nullptr;
  return &*m;
}

std::string string_field(const Json* object, const char* name) {
  if (object == nullptr) return {};
  const auto it = object->find(name);
  if (it == object->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

// Parses RFC 3339 into whole seconds since the epoch plus a fraction in microseconds.
std::optional<std::pair<std::time_t, long>> parse_rfc3339(const std::string& text) {
  std::tm utc{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &utc.tm_year, &utc.tm_mon,
                  &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  if (utc.tm_mon < 1 || utc.tm_mon > 12 || utc.tm_mday < 1 || utc.tm_mday > 31 ||
      utc.tm_hour > 23 || utc.tm_min > 59 || utc.tm_sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  long micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t digits = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == digits) return std::nullopt;
    for (std::size_t n = pos - digits; n < 6; ++n)
      micros *= 10;
  }
  long offset_seconds = 0;
  const std::string zone = text.substr(pos);
  if (zone == "Z" || zone == "z") {
    offset_seconds = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int hours = 0;
    int minutes = 0;
    if (std::sscanf(zone.c_str() + 1, "%2d:%2d", &hours, &minutes) != 2) return std::nullopt;
    offset_seconds = (zone[0] == '+' ? 1 : -1) * (hours * 3600L + minutes * 60L);
  } else {
    return std::nullopt;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return std::make_pair(timegm(&utc) - offset_seconds, micros);
}

}  // namespace

std::string object_key(const Json& object) {
  const Json* meta = metadata_of(object);
  const std::string ns = string_field(meta, "namespace");
  const std::string name = string_field(meta, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::string resource_version(const Json& object) {
  return string_field(metadata_of(object), "resourceVersion");
}

const Json* controller_reference(const Json& object) {
  const Json* meta = metadata_of(object);
  if (meta == nullptr) return nullptr;
  const auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return nullptr;
  for (const auto& ref : *refs) {
    if (ref.is_object() && ref.value("controller", false)) return &ref;
  }
  return nullptr;
}

std::string controller_owner_key(const Json& object, const Resource& owner) {
  const Json* ref = controller_reference(object);
  if (ref == nullptr || string_field(ref, "kind") != owner.kind) return {};
  const std::string api_version = string_field(ref, "apiVersion");
  const std::size_t slash = api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  if (group != owner.group) return {};
  std::string name = string_field(ref, "name");
  if (name.empty()) return {};
  const std::string ns = string_field(metadata_of(object), "namespace");
  if (!owner.namespaced || ns.empty()) return name;
  return ns + "/" + name;
}

Json controller_owner_reference(const Resource& owner, const std::string& name,
                                const std::string& uid) {
  return Json{{"apiVersion", owner.api_version()},
              {"kind", owner.kind},
              {"name", name},
              {"uid", uid},
              {"controller", true},
              {"blockOwnerDeletion", true}};
}

std::string format_time(WallTime t) {
  const std::time_t seconds =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> buffer{};
  std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer.data();
}

std::optional<WallTime> parse_time(const std::string& text) {
  const auto parsed = parse_rfc3339(text);
  if (!parsed) return std::nullopt;
  return std::chrono::system_clock::from_time_t(parsed->first);
}

std::string format_micro_time(WallTime t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(secs);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> date{};
  std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::array<char, 64> out{};
  std::snprintf(out.data(), out.size(), "%s.%06dZ", date.data(), static_cast<int>(micros));
  return out.data();
}

std::optional<WallTime> parse_micro_time(const std::string& text) {
  const auto parsed = parse_rfc3339(text);
  if (!parsed) return std::nullopt;
  return std::chrono::system_clock::from_time_t(parsed->first) +
         std::chrono::microseconds(parsed->second);
}

}  // namespace ascend::kube
