#include "net/server/server_tenants.h"

#include <fmt/format.h>

#include "engine/block_store.h"
#include "net/server/shared_arenas.h"

namespace kvstash::net {

bool ConstantTimeEquals(std::string_view secret, std::string_view candidate) {
  // Walk the candidate in full and index the secret modulo its length, so neither a length
  // mismatch nor the position of the first differing byte shortens the loop.
  volatile unsigned char diff = secret.size() == candidate.size() ? 0 : 1;
  if (secret.empty()) return candidate.empty();
  unsigned char acc = 0;
  for (size_t i = 0; i < candidate.size(); ++i) {
    acc |= static_cast<unsigned char>(candidate[i] ^ secret[i % secret.size()]);
  }
  diff = diff | acc;
  return diff == 0;
}

Result<UcxMemory*> TenantTable::ArenaOf(BlockStore* store, UcxContext& context) {
  for (size_t i = 0; i < stores_.size(); ++i) {
    if (stores_[i] == store) return arenas_[i];
  }
  stores_.push_back(store);
  UcxMemory* shared =
      shared_arenas_ != nullptr ? shared_arenas_->Find(store->arena_base()) : nullptr;
  if (shared != nullptr) {  // registered when it was allocated
    arenas_.push_back(shared);
    return shared;
  }
  KVSTASH_ASSIGN_OR_RETURN(auto mem,
                           UcxMemory::Map(context, store->arena_base(), store->arena_size()));
  arenas_.push_back(mem.get());
  owned_arenas_.push_back(std::move(mem));
  return arenas_.back();
}

Result<std::unique_ptr<TenantTable>> TenantTable::Create(const ServerOptions& options,
                                                         BlockStore* default_store,
                                                         UcxContext& context) {
  std::unique_ptr<TenantTable> t(new TenantTable());
  t->shared_arenas_ = options.shared_arenas.get();
  t->tenants_configured_ = !options.tenants.empty();
  t->default_tokens_ = options.auth_tokens;
  t->default_.store = default_store;
  t->default_.name = "default";
  KVSTASH_ASSIGN_OR_RETURN(t->default_.arena, t->ArenaOf(default_store, context));
  for (const ServerTenant& st : options.tenants) {
    Entry e;
    e.ns = st.namespace_id;
    e.token = st.token;
    e.route.ns = st.namespace_id;
    e.route.store = st.store != nullptr ? st.store : default_store;
    e.route.name = st.name;
    KVSTASH_ASSIGN_OR_RETURN(e.route.arena, t->ArenaOf(e.route.store, context));
    t->tenants_.push_back(std::move(e));
  }
  return t;
}

bool TenantTable::DefaultTokenOk(std::string_view token) const {
  if (default_tokens_.empty()) return true;
  bool ok = false;
  for (const auto& secret : default_tokens_) ok |= ConstantTimeEquals(secret, token);
  return ok;
}

Result<TenantRoute> TenantTable::Authenticate(NamespaceId ns, std::string_view token) const {
  if (!tenants_configured_ || ns == 0) {
    if (!DefaultTokenOk(token)) {
      return Status::PermissionDenied(
          fmt::format("permission denied: bad token for namespace {}", ns));
    }
    TenantRoute r = default_;
    r.ns = ns;
    return r;
  }
  for (const Entry& e : tenants_) {
    if (e.ns != ns) continue;
    if (!ConstantTimeEquals(e.token, token)) break;
    return e.route;
  }
  return Status::PermissionDenied(
      fmt::format("permission denied: no valid token for namespace {}", ns));
}

}  // namespace kvstash::net
