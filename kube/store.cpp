#include "kube/store.hpp"

#include <algorithm>

#include "kube/object_meta.hpp"

namespace ascend::kube {

namespace {

std::string namespace_of(const nlohmann::json& object) {
  const auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return {};
  return m->value("namespace", std::string());
}

// The value of label `key` of `object`, or null when it has none (or not a string).
const std::string* label_value(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object() || !object.contains("metadata")) return nullptr;
  const nlohmann::json& m = object.at("metadata");
  if (!m.is_object() || !m.contains("labels")) return nullptr;
  const nlohmann::json& labels = m.at("labels");
  if (!labels.is_object() || !labels.contains(key)) return nullptr;
  const nlohmann::json& value = labels.at(key);
  if (!value.is_string()) return nullptr;
  return &value.get_ref<const std::string&>();
}

}  // namespace

void Store::index_label(const std::string& key) {
  const std::lock_guard lock(mutex_);
  auto& index = label_index_[key];
  index.clear();
  for (const auto& [object_key_, obj] : objects_) {
    if (const std::string* value = label_value(*obj, key))
      index[namespace_of(*obj) + "/" + *value].insert(object_key_);
  }
}

void Store::reindex(const std::string& key, const nlohmann::json& object, bool add) {
  for (auto& [label, index] : label_index_) {
    const std::string* value = label_value(object, label);
    if (value == nullptr) continue;
    const std::string slot = namespace_of(object) + "/" + *value;
    if (add) {
      index[slot].insert(key);
    } else if (auto it = index.find(slot); it != index.end()) {
      it->second.erase(key);
      if (it->second.empty()) index.erase(it);
    }
  }
}

void Store::add_handler(ChangeHandler handler) {
  const std::lock_guard lock(handlers_mutex_);
  handlers_.push_back(std::move(handler));
}

void Store::notify(const std::vector<Change>& changes) {
  if (changes.empty()) return;
  std::vector<ChangeHandler> handlers;
  {
    const std::lock_guard lock(handlers_mutex_);
    handlers = handlers_;
  }
  for (const auto& c : changes) {
    for (const auto& h : handlers)
      h(c.old_object, c.new_object);
  }
}

void Store::replace(std::vector<nlohmann::json> items) {
  std::vector<Change> changes;
  {
    const std::lock_guard lock(mutex_);
    std::unordered_map<std::string, ObjectPtr> fresh;
    fresh.reserve(items.size());
    for (auto& item : items) {
      const std::string key = object_key(item);
      auto obj = std::make_shared<const nlohmann::json>(std::move(item));
      auto old = objects_.find(key);
      if (old == objects_.end()) {
        changes.push_back({nullptr, obj});
      } else if (resource_version(*old->second) != resource_version(*obj)) {
        changes.push_back({old->second, obj});
      }
      fresh[key] = std::move(obj);
    }
    for (const auto& [key, obj] : objects_) {
      if (!fresh.contains(key)) changes.push_back({obj, nullptr});
    }
    objects_ = std::move(fresh);
    synced_ = true;
    for (auto& [label, index] : label_index_) {
      index.clear();
      for (const auto& [key, obj] : objects_) {
        if (const std::string* value = label_value(*obj, label))
          index[namespace_of(*obj) + "/" + *value].insert(key);
      }
    }
  }
  notify(changes);
}

void Store::apply(nlohmann::json object) {
  Change change;
  {
    const std::lock_guard lock(mutex_);
    const std::string key = object_key(object);
    auto obj = std::make_shared<const nlohmann::json>(std::move(object));
    auto& slot = objects_[key];
    if (!label_index_.empty()) {
      if (slot) reindex(key, *slot, false);
      reindex(key, *obj, true);
    }
    change = {slot, obj};
    slot = std::move(obj);
  }
  notify({change});
}

void Store::remove(const nlohmann::json& object) {
  Change change;
  {
    const std::lock_guard lock(mutex_);
    auto it = objects_.find(object_key(object));
    if (it == objects_.end()) return;
    if (!label_index_.empty()) reindex(it->first, *it->second, false);
    // Hand handlers the final state the server sent, which may be newer than the cached one.
    change = {std::make_shared<const nlohmann::json>(object), nullptr};
    objects_.erase(it);
  }
  notify({change});
}

ObjectPtr Store::get(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::list(const std::string& ns) const {
  std::vector<ObjectPtr> out;
  const std::lock_guard lock(mutex_);
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) {
    if (ns.empty() || namespace_of(*obj) == ns) out.push_back(obj);
  }
  return out;
}

std::vector<ObjectPtr> Store::list_matching(
    const std::unordered_map<std::string, std::string>& labels, const std::string& ns) const {
  std::vector<ObjectPtr> out;
  static const nlohmann::json kNoLabels = nlohmann::json::object();
  std::vector<ObjectPtr> candidates;
  bool indexed = false;
  if (!ns.empty()) {
    const std::lock_guard lock(mutex_);
    for (const auto& [label, value] : labels) {
      const auto index = label_index_.find(label);
      if (index == label_index_.end()) continue;
      indexed = true;
      std::string slot = ns;
      slot.append("/").append(value);
      if (const auto keys = index->second.find(slot); keys != index->second.end()) {
        candidates.reserve(keys->second.size());
        for (const auto& key : keys->second) {
          if (const auto it = objects_.find(key); it != objects_.end())
            candidates.push_back(it->second);
        }
      }
      break;
    }
  }
  if (!indexed) candidates = list(ns);
  for (auto& obj : candidates) {
    // By reference: copying each object's metadata per call was most of a reconcile's CPU.
    const nlohmann::json* have = &kNoLabels;
    if (obj->is_object() && obj->contains("metadata")) {
      const nlohmann::json& m = obj->at("metadata");
      if (m.is_object() && m.contains("labels") && m.at("labels").is_object()) {
        have = &m.at("labels");
      }
    }
    const bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& kv) {
      if (!have->contains(kv.first)) return false;
      const nlohmann::json& value = have->at(kv.first);
      return value.is_string() && value.template get_ref<const std::string&>() == kv.second;
    });
    if (match) out.push_back(std::move(obj));
  }
  return out;
}

std::size_t Store::size() const {
  const std::lock_guard lock(mutex_);
  return objects_.size();
}

bool Store::synced() const {
  const std::lock_guard lock(mutex_);
  return synced_;
}

}  // namespace ascend::kube
