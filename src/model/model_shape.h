// ModelShape: the attention geometry of a served model, enough to know how many bytes of KV
// cache one token occupies. Part of the break-even cost model (docs/MODEL.md); no I/O.
//
//   GQA/MHA: 2 (K and V) * layers * kv_heads * head_dim * dtype_bytes
//   MLA (DeepSeek-V2/V3): layers * (kv_lora_rank + rope_head_dim) * dtype_bytes
//            (one compressed latent plus the decoupled RoPE key per token per layer; no
//            separate V)
//
// Presets (bf16), bytes per token:
//   Llama-3.1-8B    32 layers, 8 KV heads, dim 128 -> 131,072 (128 KiB)
//   Llama-3.1-70B   80 layers, 8 KV heads, dim 128 -> 327,680 (320 KiB; 128K tokens = 40 GiB)
//   Qwen2.5-32B     64 layers, 8 KV heads, dim 128 -> 262,144 (256 KiB)
//   DeepSeek-V3     61 layers, MLA 512 + 64        ->  70,272 (68.625 KiB)
// Shapes are from each model's published config.json (num_hidden_layers,
// num_key_value_heads, head_dim or hidden_size / num_attention_heads, kv_lora_rank,
// qk_rope_head_dim). Engines that pad or quantize the cache (FP8 KV: dtype_bytes 1) differ.
//
// Thread safety: value types; the preset table is immutable.
#ifndef KVSTASH_MODEL_MODEL_SHAPE_H_
#define KVSTASH_MODEL_MODEL_SHAPE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kvstash/status.h"

namespace kvstash {

enum class AttentionKind : uint8_t {
  kGqa = 0,  // multi-head or grouped-query attention: per-head K and V
  kMla = 1,  // multi-head latent attention: one compressed latent + RoPE key
};

struct ModelShape {
  std::string name;
  AttentionKind attention = AttentionKind::kGqa;
  uint32_t layers = 0;
  uint32_t kv_heads = 0;       // GQA only
  uint32_t head_dim = 0;       // GQA only
  uint32_t kv_lora_rank = 0;   // MLA only: compressed KV latent width
  uint32_t rope_head_dim = 0;  // MLA only: decoupled RoPE key width
  uint32_t dtype_bytes = 2;    // bf16/fp16: 2, fp8: 1, fp32: 4

  // InvalidArgument naming the first zero or inconsistent field.
  Status Validate() const;
  // Bytes of KV cache per token across all layers. Requires Validate().ok().
  uint64_t KvBytesPerToken() const;
};

// The built-in presets, in the order listed above. Lives forever.
std::span<const ModelShape> ModelPresets();
// Looks a preset up by name, case-insensitively ("llama-3.1-70b"). NotFound lists the names.
Result<ModelShape> FindModelPreset(std::string_view name);

}  // namespace kvstash

#endif  // KVSTASH_MODEL_MODEL_SHAPE_H_
