// Maps kvstash's flat counters ("store.hits_dram", "server.requests_get", ... as returned by
// Server::StatsPairs() and Client::Stats()) to Prometheus samples with kvstash_* names and
// labels, so /metrics and `kvstash stat --json` show the same counters:
//
//   store.blocks_committed     -> kvstash_blocks{state="committed"}            gauge
//   store.hits_flash           -> kvstash_hits_total{tier="flash"}             counter
//   store.dram_capacity_bytes  -> kvstash_capacity_bytes{tier="dram"}          gauge
//   store.admission_rejected   -> kvstash_admission_decisions_total{decision="rejected"}
//   store.lifecycle_commits    -> kvstash_lifecycle_transitions_total{transition="commits"}
//   server.requests_get        -> kvstash_server_requests_total{op="get"}      counter
//   store.discard_bytes        -> kvstash_discard_bytes_total                  counter
//   anything else: kvstash_<section>_<name> (store. drops its prefix), a counter with a
//   _total suffix unless it is a known gauge (levels such as *_active, *_free, index_*).
//
// Names this mapping does not know still come out (the generic rule), so a counter added to
// StoreStats appears in /metrics without touching this file.
//
// Thread safety: pure function.
#ifndef KVSTASH_METRICS_STATS_SAMPLES_H_
#define KVSTASH_METRICS_STATS_SAMPLES_H_

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "metrics/prometheus_text.h"

namespace kvstash {

using StatPair = std::pair<std::string, uint64_t>;

std::vector<MetricSample> SamplesFromStats(std::span<const StatPair> stats);

}  // namespace kvstash

#endif  // KVSTASH_METRICS_STATS_SAMPLES_H_
