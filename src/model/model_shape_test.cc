#include "model/model_shape.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

constexpr uint64_t kKiB = 1024;

uint64_t PresetBytes(std::string_view name) {
  Result<ModelShape> s = FindModelPreset(name);
  EXPECT_TRUE(s.ok()) << name;
  EXPECT_TRUE(s->Validate().ok()) << name;
  return s->KvBytesPerToken();
}

TEST(ModelShapeTest, PresetBytesPerTokenMatchTheHeaderComment) {
  EXPECT_EQ(PresetBytes("Llama-3.1-8B"), 128 * kKiB);   // 2*32*8*128*2
  EXPECT_EQ(PresetBytes("Llama-3.1-70B"), 320 * kKiB);  // 2*80*8*128*2
  EXPECT_EQ(PresetBytes("Qwen2.5-32B"), 256 * kKiB);    // 2*64*8*128*2
  EXPECT_EQ(PresetBytes("DeepSeek-V3"), 70'272u);       // 61*(512+64)*2
  // docs/ARCHITECTURE.md §1: 128K tokens of Llama-3.1-70B = 40 GiB.
  EXPECT_EQ(PresetBytes("Llama-3.1-70B") * 128 * kKiB, uint64_t{40} << 30);
  EXPECT_EQ(ModelPresets().size(), 4u);
}

TEST(ModelShapeTest, LookupIsCaseInsensitiveAndUnknownIsNotFound) {
  EXPECT_TRUE(FindModelPreset("llama-3.1-70b").ok());
  EXPECT_EQ(FindModelPreset("DEEPSEEK-V3")->attention, AttentionKind::kMla);
  Result<ModelShape> missing = FindModelPreset("gpt-5");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().Is(StatusCode::kNotFound));
  EXPECT_NE(missing.status().message().find("Qwen2.5-32B"), std::string::npos);
}

TEST(ModelShapeTest, CustomShapesAndValidation) {
  ModelShape fp8;
  fp8.name = "fp8";
  fp8.layers = 80;
  fp8.kv_heads = 8;
  fp8.head_dim = 128;
  fp8.dtype_bytes = 1;
  EXPECT_TRUE(fp8.Validate().ok());
  EXPECT_EQ(fp8.KvBytesPerToken(), 160 * kKiB);  // FP8 KV halves the 70B figure
  ModelShape bad = fp8;
  bad.kv_heads = 0;
  EXPECT_TRUE(bad.Validate().Is(StatusCode::kInvalidArgument));
  bad = fp8;
  bad.layers = 0;
  EXPECT_FALSE(bad.Validate().ok());
  bad = fp8;
  bad.attention = AttentionKind::kMla;  // MLA without a latent width
  EXPECT_FALSE(bad.Validate().ok());
}

}  // namespace
}  // namespace kvstash
