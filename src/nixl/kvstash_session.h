// Session: everything the KVSTASH NIXL backend does, with no NIXL type in sight. The NIXL
// engine (kvstash_backend.h) only converts NIXL descriptors to these calls and back.
//
//   KVSTASH_ASSIGN_OR_RETURN(auto s, Session::Create(config));       // connects to kvstashd
//   KVSTASH_ASSIGN_OR_RETURN(LocalRegion* pool, s->RegisterLocal(MemKind::kDram, addr, len));
//   KVSTASH_ASSIGN_OR_RETURN(ObjectTarget* obj, s->RegisterObject("llama@0@0@abc", 7, len));
//   std::unique_ptr<XferRequest> req;
//   XferOutcome o = s->Prepare(XferOp::kWrite, MemKind::kDram, MemKind::kObject, descs, &req);
//
// Registrations: a DRAM/VRAM registration registers the range with the kvstash client once
// (RegisterBuffer: Gets land zero-copy, Puts need no per-call registration). An OBJ_SEG
// registration records the object key (metaInfo, else decimal devId). The Session owns every
// registration until Deregister(); whatever is left is released before the client closes.
//
// Thread safety: all methods are safe to call concurrently (NIXL calls a backend from the
// user's threads and its progress thread). The registration maps take one mutex, never held
// across a network round trip.
#ifndef KVSTASH_NIXL_KVSTASH_SESSION_H_
#define KVSTASH_NIXL_KVSTASH_SESSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"
#include "nixl/backend_config.h"
#include "nixl/xfer_plan.h"
#include "nixl/xfer_request.h"

namespace kvstash::nixl {

// A registered local range (what the backend returns as DRAM/VRAM metadata).
struct LocalRegion {
  MemKind kind = MemKind::kDram;
  uintptr_t addr = 0;
  size_t len = 0;
  BufferHandle handle;  // the client registration
};

class Session {
 public:
  // Connects. Errors: as Client::Connect (Unavailable when no server answers within
  // config.client.connect_timeout, PermissionDenied, InvalidArgument).
  static Result<std::unique_ptr<Session>> Create(const BackendConfig& config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // True when VRAM_SEG is accepted (the client was built with CUDA).
  static bool vram_supported();

  // Errors: InvalidArgument (kind not DRAM/VRAM, null or empty range), and RegisterBuffer's
  // (Unavailable, Timeout, ResourceExhausted). The pointer stays valid until Deregister().
  Result<LocalRegion*> RegisterLocal(MemKind kind, uintptr_t addr, size_t len);
  // Errors: InvalidArgument (key over 256 bytes). No round trip.
  Result<ObjectTarget*> RegisterObject(std::string_view meta_info, uint64_t dev_id, uint64_t len);
  // Releases a registration returned above; unknown pointers are ignored (returns false).
  bool Deregister(const void* registration);

  // Which keys exist (one ExistsBatch). Errors: Unavailable, Timeout, InvalidArgument.
  Result<std::vector<bool>> Query(std::span<const std::string> keys);

  // Checks and translates a request. On kSuccess `*out` holds a request ready to Post();
  // otherwise the outcome says why and nothing was sent.
  XferOutcome Prepare(XferOp op, MemKind local, MemKind remote, std::span<const XferDesc> descs,
                      std::unique_ptr<XferRequest>* out);

  Client* client() { return client_.get(); }
  const BackendConfig& config() const { return config_; }

 private:
  Session(BackendConfig config, std::unique_ptr<Client> client);

  const BackendConfig config_;
  std::unique_ptr<Client> client_;
  std::mutex mu_;
  std::map<const void*, std::unique_ptr<LocalRegion>> locals_;    // GUARDED_BY(mu_)
  std::map<const void*, std::unique_ptr<ObjectTarget>> objects_;  // GUARDED_BY(mu_)
};

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_KVSTASH_SESSION_H_
