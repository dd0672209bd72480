#include "tests/workload/config.hpp"

#include <gtest/gtest.h>

#include "kube/testing/temp_dir.hpp"

namespace ascend::standin {
namespace {

using kube::testing::TempDir;
using kube::testing::write_file;

TEST(StandinConfig, ScalarsAreTypedLikeYaml) {
  EXPECT_EQ(scalar_from_text("true"), Json(true));
  EXPECT_EQ(scalar_from_text("False"), Json(false));
  EXPECT_TRUE(scalar_from_text("null").is_null());
  EXPECT_TRUE(scalar_from_text("~").is_null());
  EXPECT_TRUE(scalar_from_text("").is_null());
  EXPECT_EQ(scalar_from_text("42"), Json(42));
  EXPECT_EQ(scalar_from_text("-7"), Json(-7));
  EXPECT_TRUE(scalar_from_text("1.0e-4").is_number_float());
  EXPECT_DOUBLE_EQ(scalar_from_text("1.0e-4").get<double>(), 1.0e-4);
  EXPECT_DOUBLE_EQ(scalar_from_text("5e-5").get<double>(), 5e-5);
  EXPECT_DOUBLE_EQ(scalar_from_text("3.0").get<double>(), 3.0);
  EXPECT_EQ(scalar_from_text("llama3"), Json("llama3"));
  EXPECT_EQ(scalar_from_text("meta-llama/Meta-Llama-3-8B-Instruct"),
            Json("meta-llama/Meta-Llama-3-8B-Instruct"));
  EXPECT_EQ(scalar_from_text("99999999999999999999999"), Json("99999999999999999999999"));
}

TEST(StandinConfig, ParsesALlamaFactoryYaml) {
  const Json c = parse_config_text(R"(
### model
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
trust_remote_code: true
### method
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
dataset: identity,alpaca_en_demo
cutoff_len: 2048
learning_rate: 1.0e-4
num_train_epochs: 3.0
output_dir: saves/llama3-8b/lora/sft
quoted: "123"
list: [1, two]
nested: {a: 1}
)",
                                   "test");
  EXPECT_EQ(c["model_name_or_path"], "meta-llama/Meta-Llama-3-8B-Instruct");
  EXPECT_EQ(c["trust_remote_code"], true);
  EXPECT_EQ(c["cutoff_len"], 2048);
  EXPECT_DOUBLE_EQ(c["learning_rate"].get<double>(), 1.0e-4);
  EXPECT_EQ(c["dataset"], "identity,alpaca_en_demo");
  EXPECT_EQ(c["quoted"], "123");
  EXPECT_EQ(c["list"], Json::parse(R"([1, "two"])"));
  EXPECT_EQ(c["nested"]["a"], 1);
}

TEST(StandinConfig, EmptyFileIsEmptyAndNonMapIsAnError) {
  EXPECT_EQ(parse_config_text("", "x"), Json::object());
  EXPECT_EQ(parse_config_text("# only a comment\n", "x"), Json::object());
  EXPECT_THROW(parse_config_text("- a\n- b\n", "x"), ConfigError);
  EXPECT_THROW(parse_config_text("a: [1, 2\n", "x"), ConfigError);
}

TEST(StandinConfig, OverridesInEveryForm) {
  Json c = Json::object();
  c["learning_rate"] = 1e-4;
  apply_overrides(c, {"learning_rate=2e-5", "--standin_steps", "7", "--flag", "--x=y", "a.b.c=1",
                      "standin_skip_device_check=true", "empty="});
  EXPECT_DOUBLE_EQ(c["learning_rate"].get<double>(), 2e-5);
  EXPECT_EQ(c["standin_steps"], 7);
  EXPECT_EQ(c["flag"], true);
  EXPECT_EQ(c["x"], "y");
  EXPECT_EQ(c["a"]["b"]["c"], 1);
  EXPECT_EQ(c["standin_skip_device_check"], true);
  EXPECT_TRUE(c["empty"].is_null());
  EXPECT_THROW(apply_overrides(c, {"loose"}), ConfigError);
  EXPECT_THROW(apply_overrides(c, {"=1"}), ConfigError);
  EXPECT_THROW(apply_overrides(c, {"a..b=1"}), ConfigError);
}

TEST(StandinConfig, LoadsFileThenOverrides) {
  TempDir dir;
  const auto path = dir.path() / "config.yaml";
  write_file(path, "standin_steps: 3\noutput_dir: /tmp/out\n");
  const LoadedConfig c = load_config({path.string(), "standin_steps=9"});
  ASSERT_TRUE(c.path.has_value());
  EXPECT_EQ(*c.path, path.string());
  EXPECT_EQ(c.values["standin_steps"], 9);
  EXPECT_EQ(c.values["output_dir"], "/tmp/out");

  const LoadedConfig none = load_config({"standin_steps=2"});
  EXPECT_FALSE(none.path.has_value());
  EXPECT_EQ(none.values["standin_steps"], 2);

  EXPECT_THROW(load_config({(dir.path() / "missing.yaml").string()}), ConfigError);
  write_file(dir.path() / "c.json", R"({"standin_steps": 4})");
  EXPECT_EQ(load_config({(dir.path() / "c.json").string()}).values["standin_steps"], 4);
}

TEST(StandinConfig, TypedLookups) {
  const Json c = Json::parse(
      R"({"s": "x", "n": 2.5, "i": 3, "si": "4", "b": true, "sb": "false", "bad": "zz", "f": 1.5, "z": null})");
  EXPECT_EQ(get_string(c, "s", ""), "x");
  EXPECT_EQ(get_string(c, "i", ""), "3");
  EXPECT_EQ(get_string(c, "missing", "d"), "d");
  EXPECT_EQ(get_string(c, "z", "d"), "d");
  EXPECT_DOUBLE_EQ(get_number(c, "n", 0), 2.5);
  EXPECT_DOUBLE_EQ(get_number(c, "si", 0), 4);
  EXPECT_EQ(get_int(c, "i", 0), 3);
  EXPECT_EQ(get_int(c, "si", 0), 4);
  EXPECT_EQ(get_int(c, "missing", 11), 11);
  EXPECT_THROW(get_int(c, "f", 0), ConfigError);
  EXPECT_THROW(get_number(c, "bad", 0), ConfigError);
  EXPECT_TRUE(get_bool(c, "b", false));
  EXPECT_FALSE(get_bool(c, "sb", true));
  EXPECT_TRUE(get_bool(c, "missing", true));
  EXPECT_THROW(get_bool(c, "bad", false), ConfigError);
}

TEST(StandinConfig, ConfigPaths) {
  EXPECT_TRUE(is_config_path("/etc/llamafactory/config.yaml"));
  EXPECT_TRUE(is_config_path("x.YML"));
  EXPECT_TRUE(is_config_path("x.json"));
  EXPECT_FALSE(is_config_path("key=value"));
  EXPECT_FALSE(is_config_path("yaml"));
}

}  // namespace
}  // namespace ascend::standin
