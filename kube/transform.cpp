#include "kube/transform.hpp"

#include <map>
#include <memory>

namespace ascend::kube {

void strip_managed_fields(nlohmann::json& object) {
  if (!object.is_object()) return;
  const auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return;
  m->erase("managedFields");
}

namespace {

// The kept paths as a tree: a node with no children keeps everything below it.
struct PathTree {
  std::map<std::string, PathTree, std::less<>> children;
  bool whole = false;

  void add(const FieldPath& path, std::size_t at = 0) {
    if (whole) return;
    if (at == path.size()) {
      whole = true;
      children.clear();
      return;
    }
    children[path[at]].add(path, at + 1);
  }
};

void prune(nlohmann::json& node, const PathTree& tree) {
  if (tree.whole) return;
  if (node.is_array()) {
    for (auto& element : node)
      prune(element, tree);
    return;
  }
  if (!node.is_object()) return;  // the path expected more: keep the scalar as it is
  for (auto it = node.begin(); it != node.end();) {
    const auto kept = tree.children.find(it.key());
    if (kept == tree.children.end()) {
      it = node.erase(it);
    } else {
      prune(it.value(), kept->second);
      ++it;
    }
  }
}

}  // namespace

Transform keep_only(const std::vector<FieldPath>& paths) {
  auto tree = std::make_shared<PathTree>();
  for (const char* identity : {"apiVersion", "kind"})
    tree->add({identity});
  for (const char* identity : {"name", "namespace", "uid", "resourceVersion"})
    tree->add({"metadata", identity});
  for (const auto& path : paths) {
    if (!path.empty()) tree->add(path);
  }
  return [tree](nlohmann::json& object) { prune(object, *tree); };
}

}  // namespace ascend::kube
