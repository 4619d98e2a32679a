// UcxContext: RAII owner of a ucp_context_h (features RMA | AM | WAKEUP).
//
// Transport selection comes from the environment (UCX_TLS, UCX_NET_DEVICES, ...), read when
// the context is created: set UCX_TLS before Create() to pin a transport (tests run over
// "sm,self,tcp" and "tcp"; real hardware picks verbs). One correction is made: a transport list
// with nothing that can carry the connection handshake (UCX_TLS=sm,self, as UCX and NIXL
// examples write it) gets tcp added, since UCX 1.13's connection manager needs one
// (WithHandshakeTransport).
//
// Thread safety: the context is created with multi-thread support so that workers of
// different threads (and memory registration from any thread) may share it.
#ifndef KVSTASH_NET_UCX_CONTEXT_H_
#define KVSTASH_NET_UCX_CONTEXT_H_

#include <ucp/api/ucp.h>

#include <memory>
#include <string>
#include <string_view>

#include "kvstash/status.h"

namespace kvstash::net {

// `tls` (a UCX_TLS value) with "tcp" appended if it names no transport that can carry a
// client-server handshake (tcp, or an RDMA one: ib, rc*, ud*, dc*, or "all"); unchanged
// otherwise, and for an exclusion list ("^...") or an empty value.
std::string WithHandshakeTransport(std::string_view tls);

class UcxContext {
 public:
  // Errors: Unavailable/Internal when UCX cannot initialize (no transport matches UCX_TLS).
  static Result<std::unique_ptr<UcxContext>> Create();
  ~UcxContext();
  UcxContext(const UcxContext&) = delete;
  UcxContext& operator=(const UcxContext&) = delete;

  ucp_context_h get() const { return ctx_; }
  // True if some transport registers and moves memory of `type` (e.g. UCS_MEMORY_TYPE_CUDA).
  bool SupportsMemoryType(ucs_memory_type_t type) const;
  // At destruction, hands the context to the reaper instead of cleaning it up: a worker it
  // holds still uses it (UcxWorker::Park).
  void DeferCleanupToReaper() { deferred_ = true; }

 private:
  explicit UcxContext(ucp_context_h ctx, uint64_t memory_types)
      : ctx_(ctx), memory_types_(memory_types) {}
  ucp_context_h ctx_;
  uint64_t memory_types_;
  bool deferred_ = false;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_UCX_CONTEXT_H_
