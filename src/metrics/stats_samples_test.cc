#include "metrics/stats_samples.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

TEST(StatsSamplesTest, MapsKnownFamiliesAndGenericNames) {
  std::vector<StatPair> stats = {{"store.blocks_committed", 5},
                                 {"store.blocks_allocated", 1},
                                 {"store.hits_flash", 7},
                                 {"store.dram_capacity_bytes", 1024},
                                 {"store.dram_used_bytes", 512},
                                 {"store.admission_rejected", 2},
                                 {"store.admission_admitted_bytes", 4096},
                                 {"store.discard_bytes", 65536},
                                 {"store.lease_aborts", 3},
                                 {"store.index_entries", 9},
                                 {"server.requests_get", 11},
                                 {"server.connections_active", 2},
                                 {"server.get_bytes_dram", 100},
                                 {"store.flash_checksum_failures", 1},
                                 {"store.lifecycle_commits", 4}};
  auto text = RenderPrometheusText(SamplesFromStats(stats));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  for (const char* line :
       {"# TYPE kvstash_blocks gauge\n", "kvstash_blocks{state=\"committed\"} 5\n",
        "kvstash_blocks{state=\"allocated\"} 1\n", "# TYPE kvstash_hits_total counter\n",
        "kvstash_hits_total{tier=\"flash\"} 7\n", "kvstash_capacity_bytes{tier=\"dram\"} 1024\n",
        "kvstash_used_bytes{tier=\"dram\"} 512\n",
        "kvstash_admission_decisions_total{decision=\"rejected\"} 2\n",
        "kvstash_admission_bytes_total{decision=\"admitted\"} 4096\n",
        "# TYPE kvstash_discard_bytes_total counter\nkvstash_discard_bytes_total 65536\n",
        "kvstash_lease_aborts_total 3\n",
        "# TYPE kvstash_index_entries gauge\nkvstash_index_entries 9\n",
        "kvstash_server_requests_total{op=\"get\"} 11\n",
        "# TYPE kvstash_server_connections_active gauge\n",
        "kvstash_server_get_bytes_total{tier=\"dram\"} 100\n",
        "kvstash_flash_checksum_failures_total 1\n",
        "kvstash_lifecycle_transitions_total{transition=\"commits\"} 4\n"}) {
    EXPECT_NE(text->find(line), std::string::npos) << "missing: " << line << "\nin:\n" << *text;
  }
}

TEST(StatsSamplesTest, UnknownNamesStillRenderValidly) {
  std::vector<StatPair> stats = {{"store.new-thing", 1}, {"weird name", 2}, {"store.hits_", 3}};
  auto samples = SamplesFromStats(stats);
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].name, "kvstash_new_thing_total");
  EXPECT_EQ(samples[1].name, "kvstash_weird_name_total");
  EXPECT_TRUE(RenderPrometheusText(samples).ok());
}

}  // namespace
}  // namespace kvstash
