#include "tools/cli/cli_cluster.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/size.h"

namespace kvstash {
namespace {

struct NodeRow {
  ClusterNodeStatus node;
  uint64_t hits = 0;
  uint64_t misses = 0;
  bool answered = false;  // its counters came back
};

std::vector<NodeRow> Rows(ClusterClient& cluster) {
  std::map<std::string, uint64_t> stats = cluster.Stats();
  std::vector<NodeRow> rows;
  for (ClusterNodeStatus& n : cluster.Nodes()) {
    NodeRow r{.node = std::move(n)};
    auto hits = stats.find(r.node.name + "/server.get_hits");
    auto misses = stats.find(r.node.name + "/server.get_misses");
    r.answered = hits != stats.end();
    if (r.answered) r.hits = hits->second;
    if (misses != stats.end()) r.misses = misses->second;
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string HitRate(const NodeRow& r) {
  if (!r.answered) return "-";
  if (r.hits + r.misses == 0) return "n/a";
  char text[16];
  std::snprintf(text, sizeof(text), "%.1f%%", 100.0 * r.hits / (r.hits + r.misses));
  return text;
}

void PrintJson(const std::vector<NodeRow>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const NodeRow& r : rows) {
    out.push_back({{"name", r.node.name},
                   {"address", r.node.address},
                   {"state", r.node.state},
                   {"boot_id", r.node.boot_id},
                   {"weight", r.node.weight},
                   {"dram_bytes", r.node.dram_bytes},
                   {"flash_bytes", r.node.flash_bytes},
                   {"metrics_address", r.node.metrics_address},
                   {"answered", r.answered},
                   {"get_hits", r.hits},
                   {"get_misses", r.misses}});
  }
  std::printf("%s\n", out.dump().c_str());
}

void PrintTable(const std::vector<NodeRow>& rows) {
  std::printf("%-20s %-22s %-12s %7s %10s %10s %9s\n", "NODE", "ADDRESS", "STATE", "WEIGHT", "DRAM",
              "FLASH", "HIT RATE");
  for (const NodeRow& r : rows) {
    std::printf("%-20s %-22s %-12s %7.1f %10s %10s %9s\n", r.node.name.c_str(),
                r.node.address.c_str(), r.node.state.c_str(), r.node.weight,
                FormatSize(r.node.dram_bytes).c_str(), FormatSize(r.node.flash_bytes).c_str(),
                HitRate(r).c_str());
  }
  size_t up = std::ranges::count_if(rows, [](const NodeRow& r) { return r.node.state == "up"; });
  std::printf("%zu node(s), %zu up\n", rows.size(), up);
}

}  // namespace

void AddClusterCommand(CLI::App* app, CommandRunner* runner) {
  CLI::App* cluster = app->add_subcommand("cluster", "Cluster commands (--server etcd://...)");
  cluster->require_subcommand(1);
  auto json = std::make_shared<bool>(false);
  CLI::App* status = cluster->add_subcommand("status", "The nodes, their state and hit rate");
  status->add_flag("--json", *json, "a JSON array instead of a table");
  status->callback([runner, json] {
    *runner = [json](const GlobalOptions& g) {
      if (!IsClusterAddress(g.server)) {
        std::fprintf(stderr,
                     "kvstash: cluster status needs --server etcd://HOST:PORT/NAME or "
                     "nodes://NAME=HOST:PORT,... (got %s)\n",
                     g.server.c_str());
        return static_cast<int>(kExitUsage);
      }
      std::unique_ptr<ClusterClient> cluster = ConnectClusterOrReport(g);
      if (!cluster) return static_cast<int>(kExitError);
      std::vector<NodeRow> rows = Rows(*cluster);
      if (*json) {
        PrintJson(rows);
      } else {
        PrintTable(rows);
      }
      return static_cast<int>(kExitOk);
    };
  });
}

}  // namespace kvstash
