// What the operator's informers keep of each object (kube/transform.hpp). The caches are most
// of the operator's memory: a Pod as the API server sends it is ~7 KiB of JSON (spec, status,
// and managedFields of three field managers), ~10x that as nlohmann nodes, and the reconciler
// reads a dozen fields of it. These transforms keep exactly what operator/ reads; the tests in
// caches_test.cpp show the readers see the same through them.
#pragma once

#include "kube/transform.hpp"

namespace ascend::op {

/// LlamaFactoryJobs: everything but managedFields and kubectl's last-applied-configuration
/// annotation (a second copy of the spec). The reconciler parses the whole spec, and writes
/// status with PUT of the cached object: the API server keeps the stored managedFields when a
/// request has none, and a /status write changes only status.
kube::Transform job_cache_transform();

/// Pods: identity, labels, owner references, deletionTimestamp, and the status fields
/// observe_pod() reads (phase, reason, message, conditions, container states). No spec.
kube::Transform pod_cache_transform();

/// ConfigMaps and Services the operator applies: identity, labels, owner references,
/// deletionTimestamp and the spec-hash annotation (what ensure_child compares). No data, no
/// spec.
kube::Transform child_cache_transform();

}  // namespace ascend::op
