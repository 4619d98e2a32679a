#include "tools/cli/cli_model.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "model/break_even.h"
#include "model/model_table.h"

namespace kvstash {
namespace {

struct ModelFlags {
  std::string model = "llama-3.1-70b";
  ModelInputs inputs;
  double load_gbps = 25;  // GB/s (1e9), the store -> GPU path
  double load_latency_us = 500;
  double flash_tb = 15.36;   // TB (1e12)
  double incoming_gbps = 0;  // bytes/s offered to flash (flushes), for the threshold
  // A model that is not a preset (GQA): each set field replaces the preset's.
  uint32_t layers = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t dtype_bytes = 0;
  bool json = false;
};

nlohmann::ordered_json RowJson(const BreakEvenRow& r) {
  return {{"context_tokens", r.context_tokens},
          {"kv_bytes", r.kv_bytes},
          {"load_seconds", r.load_seconds},
          {"recompute_seconds", r.recompute_seconds},
          {"speedup", r.speedup},
          {"break_even_reuse_probability", r.break_even_p}};
}

int RunModel(ModelFlags f) {
  auto shape = FindModelPreset(f.model);
  if (!shape.ok()) {
    std::fprintf(stderr, "kvstash model: %s\n", shape.status().ToString().c_str());
    return kExitUsage;
  }
  ModelInputs in = f.inputs;
  in.model = *shape;
  if (f.layers != 0 || f.kv_heads != 0 || f.head_dim != 0 || f.dtype_bytes != 0) {
    if (in.model.attention != AttentionKind::kGqa) {
      std::fprintf(stderr, "kvstash model: --layers/--kv-heads/--head-dim apply to GQA presets\n");
      return kExitUsage;
    }
    if (f.layers != 0) in.model.layers = f.layers;
    if (f.kv_heads != 0) in.model.kv_heads = f.kv_heads;
    if (f.head_dim != 0) in.model.head_dim = f.head_dim;
    if (f.dtype_bytes != 0) in.model.dtype_bytes = f.dtype_bytes;
    in.model.name =
        fmt::format("custom ({} layers, {} KV heads of {}, {} B/element)", in.model.layers,
                    in.model.kv_heads, in.model.head_dim, in.model.dtype_bytes);
  }
  in.load_bytes_per_sec = f.load_gbps * 1e9;
  in.load_latency_sec = f.load_latency_us * 1e-6;
  in.flash_capacity_bytes = f.flash_tb * 1e12;
  if (Status s = in.Validate(); !s.ok()) {
    std::fprintf(stderr, "kvstash model: %s\n", s.ToString().c_str());
    return kExitUsage;
  }
  auto rows = BreakEvenTable(in, DefaultContextLengths());
  if (!rows.ok()) {
    std::fprintf(stderr, "kvstash model: %s\n", rows.status().ToString().c_str());
    return kExitError;
  }
  const double p_block = BreakEvenReuseProbability(in);
  const double budget = EnduranceWriteBudgetBytesPerSec(in);
  // Share of offered flush bytes that fits the endurance budget (1 = all of it).
  const double admit_fraction =
      f.incoming_gbps > 0 ? std::min(1.0, budget / (f.incoming_gbps * 1e9)) : 1.0;
  if (f.json) {
    nlohmann::ordered_json j;
    j["model"] = in.model.name;
    j["kv_bytes_per_token"] = in.model.KvBytesPerToken();
    j["prefill_tokens_per_sec"] = in.prefill_tokens_per_sec;
    j["load_bytes_per_sec"] = in.load_bytes_per_sec;
    j["block_tokens"] = in.block_tokens;
    j["break_even_reuse_probability"] = p_block;
    j["endurance_write_budget_bytes_per_sec"] = budget;
    j["admit_fraction_within_endurance"] = admit_fraction;
    for (const auto& r : *rows) j["rows"].push_back(RowJson(r));
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf(
      "model %s: %llu bytes of KV per token; prefill %.0f tokens/s; load %.1f GB/s + %.0f us\n",
      in.model.name.c_str(), static_cast<unsigned long long>(in.model.KvBytesPerToken()),
      in.prefill_tokens_per_sec, f.load_gbps, f.load_latency_us);
  for (const std::string& line : FormatBreakEvenTable(*rows)) std::printf("%s\n", line.c_str());
  std::printf("\nbreak-even reuse probability of one %llu-token block: %.4f\n",
              static_cast<unsigned long long>(in.block_tokens), p_block);
  std::printf("flash endurance budget: %.1f MB/s (%.2f TB x %.2f DWPD)\n", budget / 1e6, f.flash_tb,
              in.flash_dwpd);
  if (f.incoming_gbps > 0) {
    std::printf(
        "offered flush rate %.2f GB/s: admit at most %.1f%% of it "
        "(kvstashd --admission reuse with an admission budget of %.0f bytes/s)\n",
        f.incoming_gbps, admit_fraction * 100, budget);
  }
  return kExitOk;
}

}  // namespace

void AddModelCommand(CLI::App* app, CommandRunner* runner) {
  auto flags = std::make_shared<ModelFlags>();
  CLI::App* cmd = app->add_subcommand(
      "model", "break-even model: load vs recompute, reuse probability, endurance budget");
  cmd->add_option("--model", flags->model,
                  "preset: llama-3.1-8b, llama-3.1-70b, qwen2.5-32b, deepseek-v3");
  cmd->add_option("--prefill-tps", flags->inputs.prefill_tokens_per_sec,
                  "prefill tokens/s of the serving instance (default 10000: 70B on 8xH100 FP8)");
  cmd->add_option("--load-gbps", flags->load_gbps, "measured store load bandwidth, GB/s");
  cmd->add_option("--load-latency-us", flags->load_latency_us, "per-request load latency, us");
  cmd->add_option("--block-tokens", flags->inputs.block_tokens, "tokens per stored block");
  cmd->add_option("--gpu-dollars-per-hour", flags->inputs.gpu_dollars_per_hour);
  cmd->add_option("--flash-tb", flags->flash_tb, "flash capacity, TB");
  cmd->add_option("--dwpd", flags->inputs.flash_dwpd, "rated drive writes per day");
  cmd->add_option("--incoming-gbps", flags->incoming_gbps, "offered flush rate, GB/s");
  cmd->add_option("--layers", flags->layers, "override the preset: layers");
  cmd->add_option("--kv-heads", flags->kv_heads, "override the preset: KV heads");
  cmd->add_option("--head-dim", flags->head_dim, "override the preset: head dimension");
  cmd->add_option("--dtype-bytes", flags->dtype_bytes, "override the preset: bytes per element");
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->callback(
      [flags, runner] { *runner = [flags](const GlobalOptions&) { return RunModel(*flags); }; });
}

}  // namespace kvstash
