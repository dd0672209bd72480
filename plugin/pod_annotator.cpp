#include "plugin/pod_annotator.hpp"

#include "kube/config.hpp"
#include "kube/resource.hpp"

namespace ascend::plugin {

Status ApiPodAnnotator::annotate(const std::string& ns, const std::string& name,
                                 const std::string& key, const std::string& value) {
  const kube::Json patch = {{"metadata", {{"annotations", {{key, value}}}}}};
  auto result = client_->patch(kube::resources::kPods, ns, name, kube::PatchType::kMerge, patch,
                               kube::PatchOptions{"ascend-device-plugin", false, ""});
  if (!result.ok()) return result.error();
  return {};
}

Result<kube::ClientPtr> make_api_client(const std::string& kubeconfig) {
  auto config = kubeconfig.empty() ? kube::load_in_cluster() : kube::load_kubeconfig(kubeconfig);
  if (!config.ok()) return config.error();
  return kube::Client::from_config(config.value());
}

}  // namespace ascend::plugin
