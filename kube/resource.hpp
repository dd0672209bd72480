// Which REST collection an object lives in, and the URL paths for it.
#pragma once

#include <string>

namespace ascend::kube {

/// A resource type as the API server names it. Core types have an empty group.
struct Resource {
  std::string group;    ///< "" for the core group, e.g. "coordination.k8s.io".
  std::string version;  ///< e.g. "v1".
  std::string plural;   ///< URL name, e.g. "pods".
  std::string kind;     ///< e.g. "Pod"; used for owner references and logs.
  bool namespaced = true;

  /// `v1` or `apps/v1`, as in an object's `apiVersion`.
  [[nodiscard]] std::string api_version() const {
    return group.empty() ? version : group + "/" + version;
  }
  /// The collection (`name` empty) or object path, with an optional subresource:
  /// `/api/v1/namespaces/ns/pods/p/status`. An empty `ns` for a namespaced type addresses
  /// all namespaces (valid for list and watch only).
  [[nodiscard]] std::string path(const std::string& ns, const std::string& name = "",
                                 const std::string& subresource = "") const {
    std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
    if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
    p += "/" + plural;
    if (!name.empty()) p += "/" + name;
    if (!name.empty() && !subresource.empty()) p += "/" + subresource;
    return p;
  }
};

/// The built-in types the runtime itself needs, plus the common ones an operator owns.
namespace resources {
inline const Resource kPods{"", "v1", "pods", "Pod", true};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kServices{"", "v1", "services", "Service", true};
inline const Resource kNodes{"", "v1", "nodes", "Node", false};
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kEvents{"events.k8s.io", "v1", "events", "Event", true};
}  // namespace resources

}  // namespace ascend::kube
