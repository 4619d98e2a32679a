// TenantTable: who may use which namespace, and which BlockStore (and registered arena) a
// connection of that namespace is served from. Built once by Server::Create from
// ServerOptions::tenants / auth_tokens; read-only afterwards.
//
// Rules (docs/RELIABILITY.md §Tenants):
//  * no tenants configured: legacy mode. Any namespace is accepted (a key prefix only, no
//    isolation); if auth_tokens is non-empty the Hello token must equal one of them.
//  * tenants configured: namespace N != 0 needs the token of the tenant that owns N; an unknown
//    namespace is refused. Namespace 0 is the default store; it needs one of auth_tokens when
//    that list is non-empty, else it is open.
//  * tokens are compared in constant time (in the token's length and content): a failed
//    comparison takes as long as a successful one of the same candidate length.
// The namespace is bound to the connection at Hello; no later message can change it.
//
// Thread safety: immutable after construction; Authenticate() from any thread.
#ifndef KVSTASH_NET_SERVER_TENANTS_H_
#define KVSTASH_NET_SERVER_TENANTS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "kvstash/status.h"
#include "net/server/server_options.h"
#include "net/ucx/ucx_memory.h"

namespace kvstash::net {

// True iff a == b. Reads every byte of `candidate` and of `secret` whatever they hold, so the
// time depends only on the two lengths, not on where they differ.
bool ConstantTimeEquals(std::string_view secret, std::string_view candidate);

// Where a connection's requests go.
struct TenantRoute {
  NamespaceId ns = 0;
  BlockStore* store = nullptr;  // not owned
  UcxMemory* arena = nullptr;   // store->arena_base() registered once; not owned
  std::string name;             // "default" or the tenant's name (logs)
};

class TenantTable {
 public:
  // Registers the arena of every distinct store (the default store and each tenant store)
  // with `context`, unless options.shared_arenas allocated (and registered) it. Errors: those
  // of UcxMemory::Map.
  static Result<std::unique_ptr<TenantTable>> Create(const ServerOptions& options,
                                                     BlockStore* default_store,
                                                     UcxContext& context);

  // The route for a Hello asking for `ns` with `token`. PermissionDenied (message contains
  // "permission denied") when the token does not grant the namespace.
  Result<TenantRoute> Authenticate(NamespaceId ns, std::string_view token) const;

  // Every distinct store (default first): lease sweeps and stats.
  const std::vector<BlockStore*>& stores() const { return stores_; }
  // The registered arena of the default store.
  UcxMemory* default_arena() const { return default_.arena; }

 private:
  struct Entry {
    NamespaceId ns = 0;
    std::string token;
    TenantRoute route;
  };
  TenantTable() = default;
  Result<UcxMemory*> ArenaOf(BlockStore* store, UcxContext& context);
  bool DefaultTokenOk(std::string_view token) const;

  bool tenants_configured_ = false;
  std::vector<std::string> default_tokens_;
  TenantRoute default_;
  std::vector<Entry> tenants_;
  std::vector<BlockStore*> stores_;
  std::vector<UcxMemory*> arenas_;  // parallel to stores_: owned_arenas_ or shared_arenas_
  std::vector<std::unique_ptr<UcxMemory>> owned_arenas_;
  const SharedArenas* shared_arenas_ = nullptr;  // ServerOptions::shared_arenas
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_TENANTS_H_
