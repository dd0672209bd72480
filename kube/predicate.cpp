#include "kube/predicate.hpp"

#include <utility>

namespace ascend::kube {
namespace {

const Json kNull;

const Json& member(const Json& object, const std::string& key) {
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// Equal as objects except for `ignored` keys (no copies: objects can be large).
bool equal_except(const Json& a, const Json& b, std::initializer_list<const char*> ignored) {
  const auto skip = [&](const std::string& key) {
    for (const char* name : ignored) {
      if (key == name) return true;
    }
    return false;
  };
  if (!a.is_object() || !b.is_object()) return a == b;
  for (const auto& [key, value] : a.items()) {
    if (!skip(key) && member(b, key) != value) return false;
  }
  for (const auto& [key, value] : b.items()) {
    if (!skip(key) && !a.contains(key)) return false;
  }
  return true;
}

}  // namespace

bool only_status_changed(const Json& old_object, const Json& new_object) {
  if (!old_object.is_object() || !new_object.is_object()) return false;
  return equal_except(old_object, new_object, {"status", "metadata"}) &&
         equal_except(member(old_object, "metadata"), member(new_object, "metadata"),
                      {"resourceVersion", "managedFields"});
}

Predicate ignore_status_updates(std::vector<std::string> status_fields) {
  return [fields = std::move(status_fields)](const ObjectPtr& old_object,
                                             const ObjectPtr& new_object) {
    if (!old_object || !new_object) return true;
    if (!only_status_changed(*old_object, *new_object)) return true;
    const Json& old_status = member(*old_object, "status");
    const Json& new_status = member(*new_object, "status");
    for (const auto& field : fields) {
      if (member(old_status, field) != member(new_status, field)) return true;
    }
    return false;
  };
}

namespace {

const Json& at_path(const Json& object, const FieldPath& path) {
  const Json* at = &object;
  for (const auto& name : path) {
    if (!at->is_object()) return *at;
    at = &member(*at, name);
  }
  return *at;
}

}  // namespace

Predicate fields_changed(std::vector<FieldPath> paths) {
  paths.push_back({"metadata", "uid"});
  paths.push_back({"metadata", "deletionTimestamp"});
  return [paths = std::move(paths)](const ObjectPtr& old_object, const ObjectPtr& new_object) {
    if (!old_object || !new_object) return true;
    for (const auto& path : paths) {
      if (at_path(*old_object, path) != at_path(*new_object, path)) return true;
    }
    return false;
  };
}

}  // namespace ascend::kube
