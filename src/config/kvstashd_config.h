// KvstashdConfig: everything kvstashd can be told, with embedded defaults that work with no
// config file and no flags (a 1 GiB DRAM arena, a flash file under ./var, loopback listeners).
//
// Sources, lowest precedence first: these defaults, a TOML file (--config, see docs/CONFIG.md),
// command-line flags (config/kvstashd_flags.h). Validate() runs after all sources are merged.
//
// Thread safety: a plain value; copy it freely.
#ifndef KVSTASH_CONFIG_KVSTASHD_CONFIG_H_
#define KVSTASH_CONFIG_KVSTASHD_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash {

// One tenant: a namespace, the token that grants access to it, and the size of its own DRAM
// arena. kvstashd serves each tenant from its own BlockStore (own arena, own index, own
// registered memory; no flash tier), so a tenant's one-sided remote key reaches only its own
// arena (docs/RELIABILITY.md).
struct TenantConfig {
  std::string name;           // for logs and metrics labels; unique, non-empty
  uint32_t namespace_id = 0;  // 1..65535 (0 is the default namespace)
  std::string token;          // shared secret, >= 16 bytes
  uint64_t dram_bytes = 0;    // the tenant's arena; 0: 2 regions (2 x dram.region_size)
};

// Which blocks the flash tier admits (src/admission).
// kPrefix: reuse plus full-size blocks on first sight (ReuseAwarePolicy (c)).
enum class AdmissionKind : uint8_t { kReuse = 0, kAll = 1, kPrefix = 2 };
std::string_view AdmissionKindName(AdmissionKind kind);  // "reuse", "all", "prefix"
Result<AdmissionKind> ParseAdmissionKind(std::string_view text);

// "auto", "on" or "off" (server.detect_peer_failure, --peer-failure).
Result<PeerFailureDetection> ParsePeerFailure(std::string_view text);

struct KvstashdConfig {
  // [server]
  std::string listen = "127.0.0.1:7400";  // HOST:PORT of the UCX listener
  uint32_t workers = 2;                   // worker threads (each owns a UCX worker)
  uint32_t max_connections = 1024;
  uint32_t max_outstanding = 256;  // in-flight requests per connection
  uint32_t max_batch = 4096;       // keys per batched request, 1..4096
  uint64_t max_value_bytes = 0;    // 0: the region size
  uint64_t lease_ms = 10'000;      // ALLOCATED -> aborted after this
  uint32_t idle_poll_us = 200;     // an idle worker polls this long before sleeping
  // Peer-failure detection on client endpoints (kvstash/client.h PeerFailureDetection):
  // auto is off for clients on this host (UCX 1.13 shared-memory lanes), on for the others.
  PeerFailureDetection peer_failure = PeerFailureDetection::kAuto;

  // [dram]
  uint64_t dram_bytes = 1ull << 30;
  uint64_t region_bytes = 64ull << 20;  // region size of the DRAM and flash tiers
  // Arenas in shared memory allocated through UCX: clients on this host map them and put with
  // one memcpy (net/server/shared_arenas.h). false: a private mapping with huge pages where
  // possible.
  bool shared_arena = true;

  // [flash]
  std::string flash_path = "./var/kvstash.flash";  // "" disables the flash tier
  uint64_t flash_bytes = 0;                        // 0: auto (config/flash_sizing.h)
  uint64_t trim_bytes_per_s = 1ull << 30;          // TRIM pipeline rate; 0 = unlimited
  uint32_t flash_readers = 4;                      // reader threads per worker, 1..64
  uint64_t flash_bounce_bytes = 64ull << 20;       // registered bounce memory per worker

  // [admission]
  AdmissionKind admission = AdmissionKind::kReuse;
  uint64_t admission_bytes_per_s = 0;  // flash write budget; 0 = unlimited

  // [metrics]
  std::string metrics_listen = "127.0.0.1:9400";  // "" disables the exporter

  // [cluster] (docs/CONFIG.md, Cluster): membership in etcd; empty etcd = a standalone node.
  std::string cluster_etcd;              // etcd endpoints "host:port[,host:port]"
  std::string cluster_name = "default";  // /kvstash/<name>/ in etcd
  std::string node_name;                 // stable across restarts; "" = <hostname>-<port>
  std::string advertise;                 // HOST:PORT clients connect to; "" = server.listen
  uint32_t node_weight = 0;              // relative capacity; 0 = GiB of DRAM + flash (>= 1)
  uint32_t cluster_ttl_s = 3;            // lease TTL: a crashed node is dropped after this

  // [log]
  std::string log_level = "info";  // trace|debug|info|warn|error|critical|off

  // [[tenant]]
  std::vector<TenantConfig> tenants;

  // A tenant's arena size with 0 resolved.
  uint64_t TenantDramBytes(const TenantConfig& t) const {
    return t.dram_bytes == 0 ? 2 * region_bytes : t.dram_bytes;
  }

  // max_value_bytes with 0 resolved to region_bytes.
  uint64_t EffectiveMaxValueBytes() const {
    return max_value_bytes == 0 ? region_bytes : max_value_bytes;
  }

  // InvalidArgument naming the offending key and value, e.g.
  // "dram.size (4KiB) must be at least one region (dram.region_size = 64MiB)".
  Status Validate() const;
};

}  // namespace kvstash

#endif  // KVSTASH_CONFIG_KVSTASHD_CONFIG_H_
