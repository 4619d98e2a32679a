#include "nixl/kvstash_session.h"

#include <string_view>
#include <utility>

namespace kvstash::nixl {

Result<std::unique_ptr<Session>> Session::Create(const BackendConfig& config) {
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(config.client));
  return std::unique_ptr<Session>(new Session(config, std::move(client)));
}

Session::Session(BackendConfig config, std::unique_ptr<Client> client)
    : config_(std::move(config)), client_(std::move(client)) {}

Session::~Session() {
  // BufferHandles must be gone before their Client.
  std::lock_guard<std::mutex> lock(mu_);
  locals_.clear();
  objects_.clear();
}

bool Session::vram_supported() { return Client::cuda_support(); }

Result<LocalRegion*> Session::RegisterLocal(MemKind kind, uintptr_t addr, size_t len) {
  if (kind != MemKind::kDram && !(kind == MemKind::kVram && vram_supported())) {
    return Status::InvalidArgument("KVSTASH registers DRAM_SEG (and VRAM_SEG with CUDA) only");
  }
  if (addr == 0 || len == 0) return Status::InvalidArgument("null or empty local range");
  auto region = std::make_unique<LocalRegion>();
  region->kind = kind;
  region->addr = addr;
  region->len = len;
  KVSTASH_ASSIGN_OR_RETURN(region->handle,
                           client_->RegisterBuffer(reinterpret_cast<void*>(addr), len));
  LocalRegion* raw = region.get();
  std::lock_guard<std::mutex> lock(mu_);
  locals_.emplace(raw, std::move(region));
  return raw;
}

Result<ObjectTarget*> Session::RegisterObject(std::string_view meta_info, uint64_t dev_id,
                                              uint64_t len) {
  KVSTASH_ASSIGN_OR_RETURN(std::string key, ObjectKeyFor(meta_info, dev_id));
  auto target = std::make_unique<ObjectTarget>(ObjectTarget{std::move(key), len});
  ObjectTarget* raw = target.get();
  std::lock_guard<std::mutex> lock(mu_);
  objects_.emplace(raw, std::move(target));
  return raw;
}

bool Session::Deregister(const void* registration) {
  std::unique_ptr<LocalRegion> local;  // destroyed (unregistered) outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = locals_.find(registration); it != locals_.end()) {
    local = std::move(it->second);
    locals_.erase(it);
    return true;
  }
  return objects_.erase(registration) > 0;
}

Result<std::vector<bool>> Session::Query(std::span<const std::string> keys) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  return client_->ExistsBatch(views);
}

XferOutcome Session::Prepare(XferOp op, MemKind local, MemKind remote,
                             std::span<const XferDesc> descs, std::unique_ptr<XferRequest>* out) {
  XferOutcome checked = XferPlan::Check(op, local, remote, descs, vram_supported());
  if (checked.code != XferCode::kSuccess) return checked;
  Result<XferPlan> plan = XferPlan::Build(op, local, remote, descs, vram_supported());
  if (!plan.ok()) return {XferCode::kInvalidParam, 0, false, plan.status().ToString()};
  *out = std::make_unique<XferRequest>(client_.get(), std::move(plan).value(), config_.on_existing);
  return {};
}

}  // namespace kvstash::nixl
