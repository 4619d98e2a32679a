#include "tools/bench/bench_inprocess.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string_view>

#include "engine/block_store.h"
#include "net/server/server.h"

namespace kvstash {

bool TransportWantsSharedMemory() {
  const char* tls = std::getenv("UCX_TLS");
  if (tls == nullptr) return false;
  std::string_view v(tls);
  for (std::string_view shm : {"sm", "posix", "sysv", "cma", "knem", "xpmem"}) {
    size_t pos = 0;
    while ((pos = v.find(shm, pos)) != std::string_view::npos) {
      bool start = pos == 0 || v[pos - 1] == ',' || v[pos - 1] == '^';
      size_t end = pos + shm.size();
      if (start && (end == v.size() || v[end] == ',')) return true;
      pos = end;
    }
  }
  return false;
}

Result<std::unique_ptr<InProcessServer>> InProcessServer::Start(uint64_t dram_bytes,
                                                                uint32_t workers) {
  // The server logs through spdlog's default logger (stdout): keep stdout for the report.
  if (spdlog::get("kvstash-bench") == nullptr) {
    auto logger = spdlog::stderr_color_mt("kvstash-bench");
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  }
  std::unique_ptr<InProcessServer> s(new InProcessServer());
  s->shm_ = TransportWantsSharedMemory();
  StoreOptions so;
  so.dram_bytes = dram_bytes;
  so.dram_region_bytes = dram_bytes < (256ull << 20) ? (8ull << 20) : (64ull << 20);
  so.max_value_bytes = so.dram_region_bytes;
  KVSTASH_ASSIGN_OR_RETURN(s->store_, BlockStore::Create(so));
  ServerOptions sv;
  sv.listen_host = "127.0.0.1";
  sv.listen_port = 0;
  sv.workers = workers;
  sv.max_value_bytes = so.max_value_bytes;
  sv.peer_failure = s->shm_ ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  KVSTASH_ASSIGN_OR_RETURN(s->server_, Server::Create(sv, s->store_.get()));
  KVSTASH_RETURN_IF_ERROR(s->server_->Start());
  return s;
}

InProcessServer::~InProcessServer() {
  if (server_) server_->Stop();
  server_.reset();
  store_.reset();
}

std::string InProcessServer::address() const {
  return "127.0.0.1:" + std::to_string(server_->port());
}

ClientOptions InProcessServer::client_options() const {
  ClientOptions o;
  o.server_address = address();
  o.peer_failure = shm_ ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  return o;
}

}  // namespace kvstash
