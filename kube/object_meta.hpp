// Object metadata as the API server writes it (metav1.ObjectMeta and friends): keys, resource
// versions, owner and controller references, and metav1.Time / metav1.MicroTime on the wire.
// Every function reads plain JSON and never throws: a missing or mistyped field reads as empty.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kube/clock.hpp"
#include "kube/resource.hpp"

namespace ascend::kube {

using Json = nlohmann::json;

/// `namespace/name`, or `name` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc):
/// the key stores and work queues use.
std::string object_key(const Json& object);

/// The object's `metadata.resourceVersion`, or "".
std::string resource_version(const Json& object);

/// The owner reference marked `controller: true` (at most one, as the API server enforces), or
/// null. The pointer is into `object` and lives as long as it does.
const Json* controller_reference(const Json& object);

/// The key (`namespace/name`, or `name` for a cluster-scoped owner) of the object's controller
/// when that controller is of type `owner` (kind, and group of its apiVersion); "" otherwise.
/// An owner of a namespaced object lives in the object's namespace (the garbage collector's
/// rule), so the key takes the object's namespace.
std::string controller_owner_key(const Json& object, const Resource& owner);

/// A controller owner reference (`controller: true`, `blockOwnerDeletion: true`) to the object
/// `name` with `uid` of type `owner`: what a child carries so that the garbage collector
/// deletes it with its owner and controller_owner_key() finds the owner.
Json controller_owner_reference(const Resource& owner, const std::string& name,
                                const std::string& uid);

/// metav1.Time: RFC 3339 in UTC truncated to the second, e.g. `2025-01-02T03:04:05Z`.
std::string format_time(WallTime t);

/// Parses metav1.Time (`Z` or a numeric offset `+hh:mm`; fractional seconds are accepted and
/// dropped). std::nullopt when the text is not RFC 3339.
std::optional<WallTime> parse_time(const std::string& text);

/// metav1.MicroTime: RFC 3339 in UTC with six fractional digits, e.g.
/// `2025-01-02T03:04:05.000006Z` (Lease renew times, Event times).
std::string format_micro_time(WallTime t);

/// Parses metav1.MicroTime, keeping up to microsecond precision (more digits are truncated);
/// accepts everything parse_time() does. std::nullopt when the text is not RFC 3339.
std::optional<WallTime> parse_micro_time(const std::string& text);

}  // namespace ascend::kube
