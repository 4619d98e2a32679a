#include "nixl/kvstash_backend.h"

#include <exception>
#include <string>
#include <utility>

#include "common/logging.h"
#include "nixl/backend_config.h"
#include "nixl/xfer_status.h"

namespace kvstash::nixl {

// XferCode values are nixl_status_t values: conversion is a cast.
static_assert(static_cast<int>(XferCode::kInProgress) == NIXL_IN_PROG);
static_assert(static_cast<int>(XferCode::kSuccess) == NIXL_SUCCESS);
static_assert(static_cast<int>(XferCode::kInvalidParam) == NIXL_ERR_INVALID_PARAM);
static_assert(static_cast<int>(XferCode::kBackend) == NIXL_ERR_BACKEND);
static_assert(static_cast<int>(XferCode::kNotFound) == NIXL_ERR_NOT_FOUND);
static_assert(static_cast<int>(XferCode::kMismatch) == NIXL_ERR_MISMATCH);
static_assert(static_cast<int>(XferCode::kNotAllowed) == NIXL_ERR_NOT_ALLOWED);
static_assert(static_cast<int>(XferCode::kNotSupported) == NIXL_ERR_NOT_SUPPORTED);

namespace {

nixl_status_t ToNixl(XferCode code) { return static_cast<nixl_status_t>(code); }

// What registerMem hands NIXL: points at the Session-owned registration.
class KvstashMD : public nixlBackendMD {
 public:
  KvstashMD(LocalRegion* local, ObjectTarget* object)
      : nixlBackendMD(true), local_(local), object_(object) {}
  const void* registration() const {
    return local_ ? static_cast<const void*>(local_) : static_cast<const void*>(object_);
  }
  ObjectTarget* object() const { return object_; }

 private:
  LocalRegion* local_;
  ObjectTarget* object_;
};

class KvstashReqH : public nixlBackendReqH {
 public:
  explicit KvstashReqH(std::unique_ptr<XferRequest> req) : req(std::move(req)) {}
  std::unique_ptr<XferRequest> req;
};

MemKind ToMemKind(nixl_mem_t mem) {
  switch (mem) {
    case DRAM_SEG:
      return MemKind::kDram;
    case VRAM_SEG:
      return MemKind::kVram;
    case OBJ_SEG:
      return MemKind::kObject;
    default:
      return MemKind::kOther;
  }
}

std::vector<XferDesc> ToXferDescs(const nixl_meta_dlist_t& local, const nixl_meta_dlist_t& remote) {
  std::vector<XferDesc> descs(static_cast<size_t>(local.descCount()));
  for (int i = 0; i < local.descCount(); ++i) {
    auto* md = dynamic_cast<KvstashMD*>(remote[i].metadataP);
    descs[i] = XferDesc{local[i].addr, local[i].len, remote[i].addr, md ? md->object() : nullptr};
  }
  return descs;
}

nixl_status_t Report(const char* what, const XferOutcome& o) {
  if (o.code != XferCode::kSuccess && o.code != XferCode::kInProgress) {
    KVSTASH_LOG_EVERY_N_SEC(
        warn, 5, "KVSTASH {}: {}{} ({})", what,
        o.per_item ? "descriptor " + std::to_string(o.failed_index) + ": " : std::string(),
        o.message, XferCodeName(o.code));
  }
  return ToNixl(o.code);
}

nixl_status_t ReportStatus(const char* what, const Status& s) {
  return Report(what, {ToXferCode(s), 0, false, s.ToString()});
}

nixl_status_t CaughtException(const char* where) {
  try {
    throw;
  } catch (const std::exception& e) {
    KVSTASH_LOG_EVERY_N_SEC(error, 5, "KVSTASH {}: exception: {}", where, e.what());
  } catch (...) {
    KVSTASH_LOG_EVERY_N_SEC(error, 5, "KVSTASH {}: unknown exception", where);
  }
  return NIXL_ERR_BACKEND;
}

}  // namespace

KvstashEngine::KvstashEngine(const nixlBackendInitParams* init_params)
    : nixlBackendEngine(init_params) {
  try {
    initErr = Init() != NIXL_SUCCESS;
  } catch (...) {
    CaughtException("init");
    initErr = true;
  }
}

KvstashEngine::~KvstashEngine() = default;

nixl_status_t KvstashEngine::Init() {
  Result<BackendConfig> cfg = ParseBackendConfig(getCustomParams(), ProcessEnv());
  if (!cfg.ok()) {
    spdlog::error("KVSTASH backend: {}", cfg.status().ToString());
    return NIXL_ERR_INVALID_PARAM;
  }
  for (const std::string& key : cfg->ignored_keys) {
    spdlog::info("KVSTASH backend: ignoring parameter '{}'", key);
  }
  Result<std::unique_ptr<Session>> session = Session::Create(*cfg);
  if (!session.ok()) {
    spdlog::error("KVSTASH backend: cannot reach kvstashd at {}: {}", cfg->client.server_address,
                  session.status().ToString());
    return ToNixl(ToXferCode(session.status()));
  }
  session_ = std::move(session).value();
  return NIXL_SUCCESS;
}

nixl_mem_list_t KvstashEngine::SupportedMems() {
  nixl_mem_list_t mems = {DRAM_SEG, OBJ_SEG};
  if (Session::vram_supported()) mems.push_back(VRAM_SEG);
  return mems;
}

nixl_status_t KvstashEngine::registerMem(const nixlBlobDesc& mem, const nixl_mem_t& nixl_mem,
                                         nixlBackendMD*& out) try {
  if (!session_) return NIXL_ERR_BACKEND;
  MemKind kind = ToMemKind(nixl_mem);
  if (kind == MemKind::kObject) {
    Result<ObjectTarget*> t = session_->RegisterObject(mem.metaInfo, mem.devId, mem.len);
    if (!t.ok()) return ReportStatus("registerMem(OBJ)", t.status());
    out = new KvstashMD(nullptr, *t);
    return NIXL_SUCCESS;
  }
  if (kind == MemKind::kOther || (kind == MemKind::kVram && !Session::vram_supported())) {
    return NIXL_ERR_NOT_SUPPORTED;
  }
  Result<LocalRegion*> r = session_->RegisterLocal(kind, mem.addr, mem.len);
  if (!r.ok()) return ReportStatus("registerMem", r.status());
  out = new KvstashMD(*r, nullptr);
  return NIXL_SUCCESS;
} catch (...) {
  return CaughtException("registerMem");
}

nixl_status_t KvstashEngine::deregisterMem(nixlBackendMD* meta) try {
  std::unique_ptr<KvstashMD> md(dynamic_cast<KvstashMD*>(meta));
  if (!md || !session_) return NIXL_ERR_INVALID_PARAM;
  session_->Deregister(md->registration());
  return NIXL_SUCCESS;
} catch (...) {
  return CaughtException("deregisterMem");
}

nixl_status_t KvstashEngine::queryMem(const nixl_reg_dlist_t& descs,
                                      std::vector<nixl_query_resp_t>& resp) const try {
  resp.assign(static_cast<size_t>(descs.descCount()), std::nullopt);
  if (!session_) return NIXL_ERR_BACKEND;
  if (descs.getType() != OBJ_SEG) return NIXL_ERR_NOT_SUPPORTED;
  std::vector<std::string> keys;
  for (int i = 0; i < descs.descCount(); ++i) {
    Result<std::string> key = ObjectKeyFor(descs[i].metaInfo, descs[i].devId);
    if (!key.ok()) return ReportStatus("queryMem", key.status());
    keys.push_back(std::move(key).value());
  }
  Result<std::vector<bool>> exists = session_->Query(keys);
  if (!exists.ok()) return ReportStatus("queryMem", exists.status());
  for (size_t i = 0; i < exists->size() && i < resp.size(); ++i) {
    if ((*exists)[i]) resp[i] = nixl_b_params_t{};
  }
  return NIXL_SUCCESS;
} catch (...) {
  return CaughtException("queryMem");
}

nixl_status_t KvstashEngine::Prep(const nixl_xfer_op_t& operation, const nixl_meta_dlist_t& local,
                                  const nixl_meta_dlist_t& remote, nixlBackendReqH*& handle) const {
  if (!session_) return NIXL_ERR_BACKEND;
  if (local.descCount() != remote.descCount()) return NIXL_ERR_INVALID_PARAM;
  XferOp op = operation == NIXL_WRITE ? XferOp::kWrite : XferOp::kRead;
  std::vector<XferDesc> descs = ToXferDescs(local, remote);
  std::unique_ptr<XferRequest> req;
  XferOutcome o =
      session_->Prepare(op, ToMemKind(local.getType()), ToMemKind(remote.getType()), descs, &req);
  if (o.code != XferCode::kSuccess) return Report("prepXfer", o);
  handle = new KvstashReqH(std::move(req));
  return NIXL_SUCCESS;
}

nixl_status_t KvstashEngine::prepXfer(const nixl_xfer_op_t& operation,
                                      const nixl_meta_dlist_t& local,
                                      const nixl_meta_dlist_t& remote, const std::string&,
                                      nixlBackendReqH*& handle, const nixl_opt_b_args_t*) const
    try {
  return Prep(operation, local, remote, handle);
} catch (...) {
  return CaughtException("prepXfer");
}

nixl_status_t KvstashEngine::postXfer(const nixl_xfer_op_t&, const nixl_meta_dlist_t&,
                                      const nixl_meta_dlist_t&, const std::string&,
                                      nixlBackendReqH*& handle, const nixl_opt_b_args_t*) const
    try {
  auto* h = dynamic_cast<KvstashReqH*>(handle);
  if (h == nullptr) return NIXL_ERR_INVALID_PARAM;
  XferCode c = h->req->Post();
  if (c != XferCode::kInProgress) return ToNixl(c);
  return Report("postXfer", {h->req->Poll(), 0, false, {}});
} catch (...) {
  return CaughtException("postXfer");
}

nixl_status_t KvstashEngine::checkXfer(nixlBackendReqH* handle) const try {
  auto* h = dynamic_cast<KvstashReqH*>(handle);
  if (h == nullptr) return NIXL_ERR_INVALID_PARAM;
  XferCode c = h->req->Poll();
  if (c == XferCode::kInProgress || c == XferCode::kSuccess) return ToNixl(c);
  return Report(h->req->plan().op() == XferOp::kWrite ? "WRITE" : "READ", h->req->outcome());
} catch (...) {
  return CaughtException("checkXfer");
}

nixl_status_t KvstashEngine::releaseReqH(nixlBackendReqH* handle) const try {
  delete dynamic_cast<KvstashReqH*>(handle);  // waits for work in flight
  return NIXL_SUCCESS;
} catch (...) {
  return CaughtException("releaseReqH");
}

}  // namespace kvstash::nixl
