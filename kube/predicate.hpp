// Event filters (controller-runtime's pkg/predicate): which changes in a Store are worth a
// reconcile. A filter only drops work: the store itself is updated either way, and a reconcile
// for any other reason still reads the latest object.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kube/object_meta.hpp"
#include "kube/store.hpp"
#include "kube/transform.hpp"

namespace ascend::kube {

/// Decides whether a change (`old_object` null for an add, `new_object` null for a delete)
/// queues a reconcile. Runs on the informer's thread for every change: quick, no I/O.
using Predicate = std::function<bool(const ObjectPtr& old_object, const ObjectPtr& new_object)>;

/// True when `new_object` differs from `old_object` in `status` alone, besides the server's
/// bookkeeping (`metadata.resourceVersion`, `metadata.managedFields`). A changed generation,
/// spec, label, annotation, finalizer, owner or deletionTimestamp is more than status.
bool only_status_changed(const Json& old_object, const Json& new_object);

/// Passes adds, deletes and every update except one that changes only the status
/// (only_status_changed()) and none of `status_fields` (top-level keys of `.status`).
/// Guarantees: an update that moves metadata.generation, labels, annotations, finalizers or
/// deletionTimestamp always passes.
/// Use: a controller that writes its primary's status itself already knows what it wrote;
/// controller-runtime's GenerationChangedPredicate drops such updates, and `status_fields`
/// keeps the ones the reconciler still acts upon (a job's `phase`: a finished job's TTL is only
/// scheduled by the reconcile that sees it finished).
/// Assumptions: nobody but the controller writes the status fields that are not listed (or a
/// change there may wait for the next event or requeue).
Predicate ignore_status_updates(std::vector<std::string> status_fields = {});

/// Passes adds, deletes and the updates that change the value at one of `paths` (from the
/// object's root; where a path meets a non-object before its end, the value there is compared
/// whole), `metadata.uid` or `metadata.deletionTimestamp`. Drops the rest: an update that moved
/// only the resourceVersion or fields the controller never reads (a kubelet's or kwok's Node
/// heartbeat: conditions, images, lastHeartbeatTime).
/// Use: a controller whose reconcile reads only `paths` of the object (list the same paths as
/// the cache's keep_only() transform). A reconcile for any other reason still reads the latest
/// object.
Predicate fields_changed(std::vector<FieldPath> paths);

}  // namespace ascend::kube
