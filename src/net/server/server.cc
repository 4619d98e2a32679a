#include "net/server/server.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/logging.h"
#include "engine/block_store.h"
#include "net/server/server_tenants.h"
#include "net/server/server_worker.h"
#include "net/server/shared_arenas.h"
#include "net/ucx/ucx_endpoint.h"

namespace kvstash {

using net::ServerShared;
using net::ServerWorker;

Status ServerOptions::Validate() const {
  auto bad = [](std::string_view what) {
    return Status::InvalidArgument(fmt::format("ServerOptions: {}", what));
  };
  if (listen_host.empty()) return bad("listen_host is empty");
  if (workers < 1 || workers > 256) return bad("workers must be 1..256");
  if (max_key_bytes < 1 || max_key_bytes > kMaxKeyBytes) return bad("max_key_bytes 1..256");
  if (max_value_bytes == 0) return bad("max_value_bytes must be > 0");
  if (max_batch_keys < 1 || max_batch_keys > 4096) return bad("max_batch_keys 1..4096");
  if (max_outstanding_per_connection < 1) return bad("max_outstanding_per_connection >= 1");
  if (max_connections < 1) return bad("max_connections >= 1");
  if (flash_bounce_bytes == 0) return bad("flash_bounce_bytes must be > 0");
  if (flash_readers < 1 || flash_readers > 64) return bad("flash_readers must be 1..64");
  if (clock == nullptr) return bad("clock is null");
  for (const auto& t : auth_tokens) {
    if (t.size() > net::Limits::kMaxTokenBytes) return bad("auth token over 256 bytes");
  }
  std::vector<uint16_t> seen;
  for (const ServerTenant& t : tenants) {
    if (t.name.empty()) return bad("tenant name is empty");
    if (t.namespace_id == 0)
      return bad(fmt::format("tenant {}: namespace must be 1..65535", t.name));
    if (t.token.empty() || t.token.size() > net::Limits::kMaxTokenBytes) {
      return bad(fmt::format("tenant {}: token must be 1..256 bytes", t.name));
    }
    if (std::find(seen.begin(), seen.end(), t.namespace_id) != seen.end()) {
      return bad(fmt::format("tenant {}: namespace {} defined twice", t.name, t.namespace_id));
    }
    seen.push_back(t.namespace_id);
  }
  return Status::Ok();
}

struct Server::Impl {
  ServerShared shared;
  std::shared_ptr<net::UcxContext> context;
  std::unique_ptr<net::TenantTable> tenants;  // owns the registered arenas
  std::vector<std::unique_ptr<ServerWorker>> workers;
  std::atomic<uint64_t> next_worker{0};
  bool started = false;
  bool stopped = false;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Result<std::shared_ptr<net::SharedArenas>> CreateSharedArenas() {
  return net::SharedArenas::Create();
}

ArenaAllocator SharedArenaAllocator(const std::shared_ptr<net::SharedArenas>& arenas) {
  return arenas->Allocator();
}

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, BlockStore* store) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  if (store == nullptr) return Status::InvalidArgument("Server: store is null");
  auto impl = std::make_unique<Impl>();
  ServerShared& sh = impl->shared;
  sh.options = std::move(options);
  sh.store = store;
  sh.limits.max_key_bytes = sh.options.max_key_bytes;
  sh.limits.max_value_bytes = sh.options.max_value_bytes;
  sh.limits.max_batch_keys = sh.options.max_batch_keys;
  sh.limits.max_outstanding = sh.options.max_outstanding_per_connection;
  if (sh.options.shared_arenas != nullptr) {
    impl->context = sh.options.shared_arenas->context();
  } else {
    KVSTASH_ASSIGN_OR_RETURN(impl->context, net::UcxContext::Create());
  }
  sh.context = impl->context.get();
  KVSTASH_ASSIGN_OR_RETURN(impl->tenants,
                           net::TenantTable::Create(sh.options, store, *impl->context));
  sh.tenants = impl->tenants.get();
  for (BlockStore* s : sh.tenants->stores()) {
    uint64_t inode = 0;
    if (net::InOneSharedMapping(s->arena_base(), s->arena_size(), &inode)) {
      sh.own_segments.push_back(inode);
    }
  }
  for (uint32_t i = 0; i < sh.options.workers; ++i) {
    KVSTASH_ASSIGN_OR_RETURN(auto w, ServerWorker::Create(static_cast<int>(i), &sh));
    impl->workers.push_back(std::move(w));
  }
  auto server = std::unique_ptr<Server>(new Server(std::move(impl)));
  Server* self = server.get();
  server->impl_->shared.stats_pairs = [self](const BlockStore* s) { return self->StatsPairs(s); };
  return server;
}

Status Server::Start() {
  Impl& im = *impl_;
  if (im.started) return Status::Internal("Server already started");
  KVSTASH_ASSIGN_OR_RETURN(
      auto addr, net::ResolveAddress(im.shared.options.listen_host, im.shared.options.listen_port));
  ServerWorker* w0 = im.workers[0].get();
  KVSTASH_RETURN_IF_ERROR(w0->Listen(addr, [&im, w0](ucp_conn_request_h req) {
    // Runs on worker 0's thread, inside its progress.
    if (!im.shared.accepting.load(std::memory_order_acquire)) {
      w0->RejectConnRequest(req);  // shutting down
      return;
    }
    uint64_t active = im.shared.connections_active.fetch_add(1, std::memory_order_relaxed);
    if (active >= im.shared.options.max_connections) {
      im.shared.connections_active.fetch_sub(1, std::memory_order_relaxed);
      w0->RejectConnRequest(req);
      return;
    }
    size_t k = im.next_worker.fetch_add(1, std::memory_order_relaxed) % im.workers.size();
    im.workers[k]->EnqueueConnRequest(req);
  }));
  for (auto& w : im.workers) w->Start();
  im.started = true;
  spdlog::info("kvstash server listening on {}:{} ({} workers, arena {} bytes, {} tenants)",
               im.shared.options.listen_host, w0->port(), im.workers.size(),
               im.shared.store->arena_size(), im.shared.options.tenants.size());
  return Status::Ok();
}

void Server::Stop() {
  Impl& im = *impl_;
  if (!im.started || im.stopped) return;
  im.stopped = true;
  // No request is dispatched after this. Workers 1..n go first: they accept-and-close what
  // was queued to them while worker 0's listener (which owns those requests) still exists.
  im.shared.accepting.store(false, std::memory_order_release);
  for (size_t i = 1; i < im.workers.size(); ++i) im.workers[i]->RequestStop();
  for (size_t i = 1; i < im.workers.size(); ++i) im.workers[i]->Join();
  im.workers[0]->RequestStop();
  im.workers[0]->Join();
}

uint16_t Server::port() const { return impl_->workers[0]->port(); }

const ServerOptions& Server::options() const { return impl_->shared.options; }

ServerStats Server::Stats() const {
  ServerStats out;
  for (const auto& w : impl_->workers) w->counters().AddTo(&out);
  return out;
}

std::vector<std::pair<std::string, uint64_t>> Server::StatsPairs(const BlockStore* store) const {
  auto out = Stats().ToPairs();
  if (store == nullptr) store = impl_->shared.store;
  for (auto& [name, value] : store->Stats().ToKeyValues()) {
    out.emplace_back("store." + name, value);
  }
  return out;
}

}  // namespace kvstash
