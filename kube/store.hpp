// The informer cache: the latest version of every object of one resource that the watch
// delivered, keyed by namespace/name, with change handlers.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kube/object_meta.hpp"

namespace ascend::kube {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

/// Called after every change: `old_object` null for an add, `new_object` null for a delete.
/// Runs on the informer's thread: it must only map the change to keys and enqueue them
/// (controller-runtime's rule); reconcilers read the store, never the handler's arguments.
using ChangeHandler = std::function<void(const ObjectPtr& old_object, const ObjectPtr& new_object)>;

/// Thread-safe cache. Objects are immutable once stored (shared, never copied on read).
class Store final {
 public:
  /// Adds a handler; it sees changes from now on (not the objects already cached).
  void add_handler(ChangeHandler handler);

  /// Replaces the whole content with a fresh list: handlers see an add for new keys, an update
  /// for keys whose resourceVersion changed, a delete for keys that vanished. Marks the store
  /// synced.
  void replace(std::vector<nlohmann::json> items);
  /// Adds or updates one object (ADDED/MODIFIED watch event).
  void apply(nlohmann::json object);
  /// Deletes one object (DELETED watch event); unknown keys are ignored.
  void remove(const nlohmann::json& object);

  /// The object at `namespace/name` (or `name` for cluster-scoped), if cached.
  [[nodiscard]] ObjectPtr get(const std::string& key) const;
  /// All objects, or those in one namespace.
  [[nodiscard]] std::vector<ObjectPtr> list(const std::string& ns = "") const;
  /// Objects whose labels contain every pair in `labels` (equality only), optionally in `ns`.
  /// With `ns` given and one of the keys indexed (index_label()), it looks only at the objects
  /// carrying that label value: no cost that grows with the rest of the cache. Otherwise it
  /// scans every object.
  [[nodiscard]] std::vector<ObjectPtr> list_matching(
      const std::unordered_map<std::string, std::string>& labels, const std::string& ns = "") const;
  /// Keeps an index of the objects by namespace and the value of label `key` (client-go's
  /// Indexer), for list_matching(). Call before the store is filled.
  void index_label(const std::string& key);
  [[nodiscard]] std::size_t size() const;
  /// True once the first full list was stored.
  [[nodiscard]] bool synced() const;

 private:
  struct Change {
    ObjectPtr old_object;
    ObjectPtr new_object;
  };
  void notify(const std::vector<Change>& changes);
  /// Adds (`add`) or removes `object` under `key` in every label index. Caller holds mutex_.
  void reindex(const std::string& key, const nlohmann::json& object, bool add);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, ObjectPtr> objects_;  // guarded by mutex_
  bool synced_ = false;                                 // guarded by mutex_
  /// Label key -> "namespace/value" -> object keys.
  std::unordered_map<std::string, std::unordered_map<std::string, std::unordered_set<std::string>>>
      label_index_;  // guarded by mutex_
  std::mutex handlers_mutex_;
  std::vector<ChangeHandler> handlers_;  // guarded by handlers_mutex_
};

}  // namespace ascend::kube
