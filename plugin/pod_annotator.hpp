#pragma once

// The PodAnnotator that writes through the API server: one merge PATCH of
// metadata.annotations, under the plugin's own ServiceAccount (RBAC: get and patch on pods;
// the chart's admission policy lets it change only that annotation, only on Pods of its node).

#include <string>

#include "kube/client.hpp"
#include "plugin/fault_reporter.hpp"

namespace ascend::plugin {

class ApiPodAnnotator final : public PodAnnotator {
 public:
  explicit ApiPodAnnotator(kube::ClientPtr client) : client_(std::move(client)) {}
  Status annotate(const std::string& ns, const std::string& name, const std::string& key,
                  const std::string& value) override;

 private:
  kube::ClientPtr client_;
};

/// A client from `kubeconfig`, or in cluster when it is empty. Errors name the source.
Result<kube::ClientPtr> make_api_client(const std::string& kubeconfig);

}  // namespace ascend::plugin
