// Informer transforms: functions applied to every object before a Store caches it
// (client-go's cache.TransformFunc), so a cache holds only what its readers use.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ascend::kube {

/// Rewrites one object in place before it is cached (list items, ADDED, MODIFIED and DELETED
/// watch objects). It must keep `metadata.name`, `metadata.namespace` and
/// `metadata.resourceVersion`: the store keys and diffs by them. Runs on the informer's
/// thread; must not throw.
using Transform = std::function<void(nlohmann::json& object)>;

/// Removes `metadata.managedFields` (client-go's TransformStripManagedFields). Server-side
/// apply bookkeeping that no controller reads, and often the largest part of an object.
/// Safe for objects that are later written back with PUT: the API server keeps the stored
/// managedFields when a request carries none.
void strip_managed_fields(nlohmann::json& object);

/// A path of member names from an object's root, e.g. {"metadata", "labels"} or
/// {"metadata", "annotations", "example.com/hash"} (names are taken literally, dots and
/// slashes included). Where the path meets an array, the rest of it applies to each element:
/// {"status", "conditions", "type"} keeps the `type` of every condition.
using FieldPath = std::vector<std::string>;

/// A Transform that keeps only `paths` (each with everything below it) plus the object's
/// identity: `apiVersion`, `kind`, `metadata.name`, `metadata.namespace`, `metadata.uid`,
/// `metadata.resourceVersion`. Everything else is removed; a path the object lacks is
/// ignored. For caches read by code that knows exactly which fields it uses (a unit test
/// should show the reader sees the same thing through the transform).
Transform keep_only(const std::vector<FieldPath>& paths);

}  // namespace ascend::kube
