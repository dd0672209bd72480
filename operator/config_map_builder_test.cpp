#include "operator/config_map_builder.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace ascend::op {
namespace {

TEST(ConfigMapBuilder, WritesTheInlineConfig) {
  Job job;
  job.ns = "team";
  job.name = "sft";
  job.uid = "u";
  job.spec.config = Json{{"stage", "sft"}, {"learning_rate", 0.0001}};
  const auto cm = build_config_map(job);
  ASSERT_TRUE(cm.has_value());
  EXPECT_EQ((*cm)["metadata"]["name"], "sft-config");
  EXPECT_EQ((*cm)["metadata"]["ownerReferences"][0]["controller"], true);
  const YAML::Node parsed = YAML::Load((*cm)["data"]["config.yaml"].get<std::string>());
  EXPECT_EQ(parsed["stage"].as<std::string>(), "sft");
  EXPECT_DOUBLE_EQ(parsed["learning_rate"].as<double>(), 0.0001);
}

TEST(ConfigMapBuilder, NoInlineConfigNoConfigMap) {
  Job job;
  job.name = "x";
  job.spec.config_map_ref = ConfigMapRef{"theirs", "k"};
  EXPECT_FALSE(build_config_map(job).has_value());
}

// PyYAML (YAML 1.1) would read bare true/yes/1e-4/null differently from the JSON they came
// from; the rendering quotes every string and keeps numbers in JSON form.
TEST(ConfigMapBuilder, YamlKeepsTypes) {
  const Json config = Json::parse(R"({
    "model_name_or_path": "Qwen/Qwen2.5-7B", "dataset": "a,b", "bf16": true, "looks_bool": "yes",
    "looks_number": "1e-4", "looks_null": "null", "epochs": 3.0, "steps": 10, "none": null,
    "yes": 1, "list": ["x", 2, {"k": "v"}], "nested": {"deep": {"s": "multi\nline: text"}}
  })");
  const std::string yaml = to_yaml(config);
  EXPECT_NE(yaml.find("\"looks_bool\": \"yes\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("\"looks_number\": \"1e-4\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("\"epochs\": 3.0"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("\"bf16\": true"), std::string::npos) << yaml;
  const YAML::Node back = YAML::Load(yaml);
  EXPECT_EQ(back["model_name_or_path"].as<std::string>(), "Qwen/Qwen2.5-7B");
  EXPECT_EQ(back["steps"].as<int>(), 10);
  EXPECT_TRUE(back["none"].IsNull());
  EXPECT_EQ(back["yes"].as<int>(), 1);
  EXPECT_EQ(back["list"][2]["k"].as<std::string>(), "v");
  EXPECT_EQ(back["nested"]["deep"]["s"].as<std::string>(), "multi\nline: text");
}

}  // namespace
}  // namespace ascend::op
