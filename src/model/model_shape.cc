#include "model/model_shape.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace kvstash {
namespace {

ModelShape Gqa(std::string name, uint32_t layers, uint32_t kv_heads, uint32_t head_dim) {
  ModelShape s;
  s.name = std::move(name);
  s.attention = AttentionKind::kGqa;
  s.layers = layers;
  s.kv_heads = kv_heads;
  s.head_dim = head_dim;
  return s;
}

ModelShape Mla(std::string name, uint32_t layers, uint32_t kv_lora_rank, uint32_t rope_dim) {
  ModelShape s;
  s.name = std::move(name);
  s.attention = AttentionKind::kMla;
  s.layers = layers;
  s.kv_lora_rank = kv_lora_rank;
  s.rope_head_dim = rope_dim;
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

Status ModelShape::Validate() const {
  if (layers == 0) return Status::InvalidArgument("model " + name + ": layers is 0");
  if (dtype_bytes == 0) return Status::InvalidArgument("model " + name + ": dtype_bytes is 0");
  if (attention == AttentionKind::kGqa && (kv_heads == 0 || head_dim == 0)) {
    return Status::InvalidArgument("model " + name + ": GQA needs kv_heads and head_dim");
  }
  if (attention == AttentionKind::kMla && kv_lora_rank == 0) {
    return Status::InvalidArgument("model " + name + ": MLA needs kv_lora_rank");
  }
  return Status::Ok();
}

uint64_t ModelShape::KvBytesPerToken() const {
  uint64_t per_layer = attention == AttentionKind::kMla
                           ? uint64_t{kv_lora_rank} + rope_head_dim
                           : uint64_t{2} * kv_heads * head_dim;  // K and V
  return per_layer * layers * dtype_bytes;
}

std::span<const ModelShape> ModelPresets() {
  static const std::vector<ModelShape>* presets = new std::vector<ModelShape>{
      Gqa("Llama-3.1-8B", 32, 8, 128),
      Gqa("Llama-3.1-70B", 80, 8, 128),
      Gqa("Qwen2.5-32B", 64, 8, 128),
      Mla("DeepSeek-V3", 61, 512, 64),
  };
  return *presets;
}

Result<ModelShape> FindModelPreset(std::string_view name) {
  std::string names;
  for (const ModelShape& s : ModelPresets()) {
    if (EqualsIgnoreCase(s.name, name)) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  return Status::NotFound("unknown model \"" + std::string(name) + "\"; presets: " + names);
}

}  // namespace kvstash
