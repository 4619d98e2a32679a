// KvstashEngine: the NIXL backend engine "KVSTASH" (libplugin_KVSTASH.so).
//
// A local-only storage backend like NIXL's OBJ plugin: DRAM_SEG (and VRAM_SEG in a CUDA
// build) <-> OBJ_SEG, where an OBJ_SEG registration names a kvstash key (metaInfo, else the
// decimal devId), devId is the handle transfer descriptors use and addr is the offset in the
// object (must be 0: blocks move whole). queryMem answers whether keys exist. NIXL has no
// delete: eviction stays inside kvstashd.
//
// This class only converts: NIXL descriptors -> XferDesc, NIXL memory types -> MemKind, and
// XferCode/Status -> nixl_status_t. The logic is in Session/XferPlan/XferRequest (no NIXL
// types, unit-tested). Every entry point is noexcept in effect: it catches every exception
// and reports NIXL_ERR_BACKEND, because no exception may cross the plugin boundary.
//
// Construction connects to kvstashd (parameters: docs/NIXL.md); on failure the engine sets
// initErr and NIXL's createBackend() reports an error.
//
// Thread safety: as NIXL requires, all const methods may run concurrently (Session is
// thread-safe; a request handle is used by one thread at a time).
#ifndef KVSTASH_NIXL_KVSTASH_BACKEND_H_
#define KVSTASH_NIXL_KVSTASH_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "backend/backend_engine.h"
#include "nixl/kvstash_session.h"

namespace kvstash::nixl {

class KvstashEngine : public nixlBackendEngine {
 public:
  explicit KvstashEngine(const nixlBackendInitParams* init_params);
  ~KvstashEngine() override;

  // The memory types this build supports: DRAM_SEG, OBJ_SEG, and VRAM_SEG with CUDA.
  static nixl_mem_list_t SupportedMems();

  bool supportsRemote() const override { return false; }
  bool supportsLocal() const override { return true; }
  bool supportsNotif() const override { return false; }
  nixl_mem_list_t getSupportedMems() const override { return SupportedMems(); }

  nixl_status_t registerMem(const nixlBlobDesc& mem, const nixl_mem_t& nixl_mem,
                            nixlBackendMD*& out) override;
  nixl_status_t deregisterMem(nixlBackendMD* meta) override;
  nixl_status_t queryMem(const nixl_reg_dlist_t& descs,
                         std::vector<nixl_query_resp_t>& resp) const override;

  // Local-only: nothing to connect; local metadata is the registration itself.
  nixl_status_t connect(const std::string&) override { return NIXL_SUCCESS; }
  nixl_status_t disconnect(const std::string&) override { return NIXL_SUCCESS; }
  nixl_status_t unloadMD(nixlBackendMD*) override { return NIXL_SUCCESS; }
  nixl_status_t loadLocalMD(nixlBackendMD* input, nixlBackendMD*& output) override {
    output = input;
    return NIXL_SUCCESS;
  }

  nixl_status_t prepXfer(const nixl_xfer_op_t& operation, const nixl_meta_dlist_t& local,
                         const nixl_meta_dlist_t& remote, const std::string& remote_agent,
                         nixlBackendReqH*& handle,
                         const nixl_opt_b_args_t* opt_args = nullptr) const override;
  nixl_status_t postXfer(const nixl_xfer_op_t& operation, const nixl_meta_dlist_t& local,
                         const nixl_meta_dlist_t& remote, const std::string& remote_agent,
                         nixlBackendReqH*& handle,
                         const nixl_opt_b_args_t* opt_args = nullptr) const override;
  nixl_status_t checkXfer(nixlBackendReqH* handle) const override;
  nixl_status_t releaseReqH(nixlBackendReqH* handle) const override;

 private:
  nixl_status_t Init();
  nixl_status_t Prep(const nixl_xfer_op_t& operation, const nixl_meta_dlist_t& local,
                     const nixl_meta_dlist_t& remote, nixlBackendReqH*& handle) const;

  std::unique_ptr<Session> session_;  // null when initErr
};

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_KVSTASH_BACKEND_H_
