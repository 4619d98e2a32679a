#include "tools/cli/cli_commands.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "common/size.h"
#include "kvstash/cluster_client.h"

namespace kvstash {
namespace {

// Where a data command goes: one node (--server HOST:PORT) or a cluster (--server
// etcd://... or nodes://...). Client and ClusterClient share the calls used here.
struct Target {
  std::unique_ptr<Client> node;
  std::unique_ptr<ClusterClient> cluster;
  explicit operator bool() const { return node || cluster; }
  template <typename F>
  auto With(F&& f) {
    return node ? f(*node) : f(*cluster);
  }
};

Target ConnectTarget(const GlobalOptions& g) {
  Target t;
  if (!IsClusterAddress(g.server)) {
    t.node = ConnectOrReport(g);
    return t;
  }
  auto cluster = ConnectClusterOrReport(g);
  if (cluster) t.cluster = std::move(cluster);
  return t;
}

struct DataArgs {
  std::string key;
  std::string file = "-";
  std::vector<std::string> keys;
  std::string max_size = "64MiB";
  bool json = false;
};

int RunPut(const GlobalOptions& g, const DataArgs& a) {
  Result<std::vector<std::byte>> data = ReadInput(a.file);
  if (!data.ok()) return ReportError("put " + a.key, data.status());
  Target t = ConnectTarget(g);
  if (!t) return kExitError;
  Status s = t.With([&](auto& c) { return c.Put(a.key, *data); });
  if (!s.ok()) return ReportError("put " + a.key, s);
  return kExitOk;
}

int RunGet(const GlobalOptions& g, const DataArgs& a) {
  Result<uint64_t> max_bytes = ParseSize(a.max_size);
  if (!max_bytes.ok()) return ReportError("--max-size", max_bytes.status());
  Target t = ConnectTarget(g);
  if (!t) return kExitError;
  std::vector<std::byte> buffer(*max_bytes);
  Result<size_t> n = t.With([&](auto& c) { return c.Get(a.key, buffer); });
  if (n.status().Is(StatusCode::kNotFound)) {
    std::fprintf(stderr, "kvstash: get %s: not found\n", a.key.c_str());
    return kExitMiss;
  }
  if (!n.ok()) return ReportError("get " + a.key, n.status());
  Status s = WriteOutput(a.file, std::span(buffer).first(*n));
  if (!s.ok()) return ReportError("get " + a.key, s);
  return kExitOk;
}

int RunExists(const GlobalOptions& g, const DataArgs& a) {
  Target t = ConnectTarget(g);
  if (!t) return kExitError;
  std::vector<std::string_view> keys(a.keys.begin(), a.keys.end());
  Result<std::vector<bool>> present = t.With([&](auto& c) { return c.ExistsBatch(keys); });
  if (!present.ok()) return ReportError("exists", present.status());
  bool all = true;
  for (size_t i = 0; i < keys.size(); ++i) {
    std::printf("%s\t%s\n", a.keys[i].c_str(), (*present)[i] ? "yes" : "no");
    all = all && (*present)[i];
  }
  return all ? kExitOk : kExitMiss;
}

int RunDelete(const GlobalOptions& g, const DataArgs& a) {
  Target t = ConnectTarget(g);
  if (!t) return kExitError;
  std::vector<std::string_view> keys(a.keys.begin(), a.keys.end());
  Result<std::vector<Status>> results = t.With([&](auto& c) { return c.DeleteBatch(keys); });
  if (!results.ok()) return ReportError("delete", results.status());
  int code = kExitOk;
  for (size_t i = 0; i < keys.size(); ++i) {
    const Status& s = (*results)[i];
    if (s.ok()) {
      std::printf("%s\tdeleted\n", a.keys[i].c_str());
    } else if (s.Is(StatusCode::kNotFound)) {
      std::printf("%s\tabsent\n", a.keys[i].c_str());
      if (code == kExitOk) code = kExitMiss;
    } else {
      std::printf("%s\terror\t%s\n", a.keys[i].c_str(), s.ToString().c_str());
      code = kExitError;
    }
  }
  return code;
}

void PrintStatTable(const std::map<std::string, uint64_t>& stats) {
  size_t width = 0;
  for (const auto& [name, value] : stats) width = std::max(width, name.size());
  std::string section;
  for (const auto& [name, value] : stats) {
    std::string prefix = name.substr(0, name.find('.'));
    if (prefix != section) {
      std::printf("%s[%s]\n", section.empty() ? "" : "\n", prefix.c_str());
      section = prefix;
    }
    std::string text = std::to_string(value);
    if (name.ends_with("_bytes") && value >= 1024) text += " (" + FormatSize(value) + ")";
    std::printf("  %-*s  %s\n", static_cast<int>(width), name.c_str(), text.c_str());
  }
}

int RunStat(const GlobalOptions& g, const DataArgs& a) {
  Target t = ConnectTarget(g);
  if (!t) return kExitError;
  Result<std::map<std::string, uint64_t>> stats =
      t.node ? t.node->Stats() : Result<std::map<std::string, uint64_t>>(t.cluster->Stats());
  if (!stats.ok()) return ReportError("stat", stats.status());
  if (a.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [name, value] : *stats) out[name] = value;
    std::printf("%s\n", out.dump().c_str());
  } else {
    PrintStatTable(*stats);
  }
  return kExitOk;
}

using Run = int (*)(const GlobalOptions&, const DataArgs&);

CLI::App* AddCommand(CLI::App* app, CommandRunner* runner, const char* name, const char* help,
                     std::shared_ptr<DataArgs> args, Run run) {
  CLI::App* sub = app->add_subcommand(name, help);
  sub->callback([runner, args, run] {
    *runner = [args, run](const GlobalOptions& g) { return run(g, *args); };
  });
  return sub;
}

}  // namespace

void AddDataCommands(CLI::App* app, CommandRunner* runner) {
  auto args = std::make_shared<DataArgs>();
  CLI::App* put = AddCommand(app, runner, "put", "Store FILE (or stdin) under KEY", args, RunPut);
  put->add_option("KEY", args->key, "key (1..256 bytes)")->required();
  put->add_option("FILE", args->file, "input file, '-' for stdin (default)");

  CLI::App* get = AddCommand(
      app, runner, "get", "Write KEY's block to FILE (or stdout); exit 3 on a miss", args, RunGet);
  get->add_option("KEY", args->key, "key")->required();
  get->add_option("FILE", args->file, "output file, '-' for stdout (default)");
  get->add_option("--max-size", args->max_size, "largest block expected (default 64MiB)");

  CLI::App* exists =
      AddCommand(app, runner, "exists", "Print KEY yes|no per key; exit 3 unless all are present",
                 args, RunExists);
  exists->add_option("KEY", args->keys, "keys")->required();

  CLI::App* del =
      AddCommand(app, runner, "delete", "Delete keys; exit 3 if any was absent", args, RunDelete);
  del->add_option("KEY", args->keys, "keys")->required();

  CLI::App* stat = AddCommand(app, runner, "stat", "Print the server's counters", args, RunStat);
  stat->add_flag("--json", args->json, "one JSON object instead of a table");
}

}  // namespace kvstash
