#include "operator/node_readiness.hpp"

#include <cctype>

#include "kube/logging.hpp"

namespace ascend::op {

using kube::log::kv;

bool positive_quantity(const Json& quantity) {
  if (!quantity.is_string()) return false;
  const std::string& text = quantity.get_ref<const std::string&>();
  // The number before any suffix or exponent: positive when it has a non-zero digit.
  bool digits = false;
  for (const char c : text) {
    if (c == '+' && !digits) continue;
    if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
      if (c != '0') return true;
      digits = true;
    } else if (c != '.') {
      break;  // '-', a suffix (k, Mi, m) or an exponent
    }
  }
  return false;
}

std::optional<Json> startup_taint_patch(const Json& node, const NodeReadinessOptions& options) {
  if (!node.is_object() || !node.contains("spec") || !node.contains("status")) return std::nullopt;
  const Json& spec = node.at("spec");
  const Json& status = node.at("status");
  if (!spec.is_object() || !spec.contains("taints") || !status.is_object() ||
      !status.contains("allocatable")) {
    return std::nullopt;
  }
  const Json& allocatable = status.at("allocatable");
  if (!allocatable.is_object() || !allocatable.contains(options.resource) ||
      !positive_quantity(allocatable.at(options.resource))) {
    return std::nullopt;
  }
  const Json& taints = spec.at("taints");
  if (!taints.is_array()) return std::nullopt;
  Json patch = Json::array();
  for (std::size_t i = taints.size(); i-- > 0;) {
    const Json& taint = taints.at(i);
    if (!taint.is_object() || !taint.contains("key") || taint.at("key") != options.taint) continue;
    const std::string path = "/spec/taints/" + std::to_string(i);
    patch.push_back({{"op", "test"}, {"path", path + "/key"}, {"value", options.taint}});
    patch.push_back({{"op", "remove"}, {"path", path}});
  }
  if (patch.empty()) return std::nullopt;
  return patch;
}

std::vector<kube::FieldPath> node_fields_read(const NodeReadinessOptions& options) {
  return {{"spec", "taints"}, {"status", "allocatable", options.resource}};
}

kube::Transform node_cache_transform(const NodeReadinessOptions& options) {
  return kube::keep_only(node_fields_read(options));
}

kube::Predicate node_update_filter(const NodeReadinessOptions& options) {
  return kube::fields_changed(node_fields_read(options));
}

NodeReadiness::NodeReadiness(kube::ClientPtr client, std::shared_ptr<kube::Store> nodes,
                             NodeReadinessOptions options)
    : client_(std::move(client)),
      nodes_(std::move(nodes)),
      options_(std::move(options)),
      logger_(kube::log::Logger().with({kv("controller", "node-readiness")})) {}

kube::ReconcileResult NodeReadiness::reconcile(const std::string& name) {
  const auto node = nodes_->get(name);
  if (!node) return kube::ReconcileResult::done();
  const auto patch = startup_taint_patch(*node, options_);
  if (!patch) return kube::ReconcileResult::done();
  kube::PatchOptions patch_options;
  patch_options.field_manager = options_.field_manager;
  auto patched = client_->patch(kube::resources::kNodes, "", name, kube::PatchType::kJson, *patch,
                                patch_options);
  if (!patched) {
    if (patched.error().not_found()) return kube::ReconcileResult::done();
    // 422 when a `test` failed: the taints changed since our copy; the watch brings the new
    // list and the retry decides again.
    return kube::ReconcileResult::error("removing the startup taint from node " + name + ": " +
                                        patched.error().to_string());
  }
  if (options_.metrics) options_.metrics->startup_taint_removed();
  logger_.info("removed the startup taint",
               {kv("node", name), kv("taint", options_.taint),
                kv("allocatable",
                   node->at("status").at("allocatable").at(options_.resource).get<std::string>())});
  return kube::ReconcileResult::done();
}

}  // namespace ascend::op
