// ServerWorker: the Get path. For every hit, a one-sided ucp_put_nbx moves the block from the
// arena (DRAM pin; zero copy) or from the registered bounce buffer (flash pin, after
// BlockStore::ReadInto) into the client's registered buffer. Then one ucp_ep_flush_nbx: only
// its completion proves the bytes reached the client (a put's local completion does not).
// The reply goes out after the flush, and the pins are released only then.
#include <fmt/format.h>

#include "common/logging.h"
#include "net/server_worker.h"
#include "net/ucx_status.h"

namespace kvstash::net {
namespace {

// BlockStore::ReadInto(pin, dest) reads and verifies a flash block into `dest`. The engine
// adds it with the flash tier; until then a flash hit cannot be served here and is reported
// as Unavailable for that key (counted in flash_reads_unavailable).
template <typename Store>
Status ReadFlashBlock(Store* store, const BlockPin& pin, std::span<std::byte> dest) {
  if constexpr (requires { store->ReadInto(pin, dest); }) {
    return store->ReadInto(pin, dest);
  } else {
    return Status::Unavailable("this engine build cannot read flash blocks");
  }
}

ucp_request_param_t PutParams(ucp_mem_h memh) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_MEMH;
  p.memh = memh;
  return p;
}

}  // namespace

struct ServerWorker::PendingGet {
  ServerWorker* worker = nullptr;
  std::shared_ptr<Connection> conn;
  Header header;
  GetReply reply;
  std::vector<BlockPin> pins;  // released (destroyed) only after the flush completed
  ucs_status_t flush_status = UCS_OK;
};

StatusCode ServerWorker::PutDram(Connection& c, const BlockPin& pin, const RemoteBuffer& buf,
                                 uint64_t offset) {
  const std::byte* src = c.store()->arena_base() + pin.arena_offset().value();
  ucp_request_param_t p = PutParams(c.arena()->get());
  ucs_status_ptr_t req =
      ucp_put_nbx(c.ep()->get(), src, pin.size(), buf.address + offset, buf.rkey->get(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    Bump(counters_.put_errors);
    return UcsToStatus(UCS_PTR_STATUS(req), "ucp_put_nbx").code();
  }
  if (req != nullptr) ucp_request_free(req);  // completion is covered by the flush
  Bump(counters_.get_bytes_dram, pin.size());
  return StatusCode::kOk;
}

StatusCode ServerWorker::PutFlash(Connection& c, const BlockPin& pin, const RemoteBuffer& buf,
                                  uint64_t offset) {
  if (bounce_ == nullptr) {
    size_t bytes = (shared_->options.max_value_bytes + 4095) & ~size_t{4095};
    bounce_storage_.resize(bytes + 4096);
    auto base = (reinterpret_cast<uintptr_t>(bounce_storage_.data()) + 4095) & ~uintptr_t{4095};
    auto mem = UcxMemory::Map(*shared_->context, reinterpret_cast<void*>(base), bytes);
    if (!mem.ok()) return mem.status().code();
    bounce_ = std::move(mem).value();
  }
  std::span<std::byte> dest(bounce_->address(), pin.size());
  Status s = ReadFlashBlock(c.store(), pin, dest);
  if (!s.ok()) {
    if (s.code() == StatusCode::kUnavailable) Bump(counters_.flash_reads_unavailable);
    KVSTASH_LOG_EVERY_N_SEC(warn, 10, "flash read failed: {}", s.ToString());
    return s.code();
  }
  // The bounce buffer is reused by the next flash hit: wait for remote completion now.
  ucp_request_param_t p = PutParams(bounce_->get());
  ucs_status_ptr_t req = ucp_put_nbx(c.ep()->get(), dest.data(), dest.size(), buf.address + offset,
                                     buf.rkey->get(), &p);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Status put = worker_->WaitRequest(req, deadline, "flash put");
  ucp_request_param_t fp{};
  if (put.ok()) put = worker_->WaitRequest(ucp_ep_flush_nbx(c.ep()->get(), &fp), deadline, "flush");
  if (!put.ok()) {
    Bump(counters_.put_errors);
    return put.code();
  }
  Bump(counters_.get_bytes_flash, pin.size());
  return StatusCode::kOk;
}

GetReply::Item ServerWorker::ServeGetItem(Connection& c, const GetRequest::Item& it,
                                          std::vector<BlockPin>* pins) {
  GetReply::Item out;
  const RemoteBuffer* buf = c.FindBuffer(it.buffer_id);
  if (buf == nullptr || !buf->Contains(it.offset, it.capacity)) {
    out.status = StatusCode::kInvalidArgument;
    return out;
  }
  auto pin = c.store()->Lookup(c.ns(), it.key);
  if (!pin.ok()) {
    out.status = pin.status().code();
    if (out.status == StatusCode::kNotFound) Bump(counters_.get_misses);
    return out;
  }
  Bump(counters_.get_hits);
  out.size = pin->size();
  if (pin->size() > it.capacity) {
    out.status = StatusCode::kInvalidArgument;  // too small; `size` tells the client
  } else if (!c.alive()) {
    out.status = StatusCode::kUnavailable;
  } else if (pin->tier() == Tier::kDram) {
    out.status = PutDram(c, *pin, *buf, it.offset);
    if (out.status == StatusCode::kOk) pins->push_back(std::move(pin).value());
  } else {
    out.status = PutFlash(c, *pin, *buf, it.offset);  // complete when it returns
  }
  return out;
}

Status ServerWorker::OnGet(const std::shared_ptr<Connection>& conn, const Header& h,
                           std::span<const std::byte> body) {
  Bump(counters_.requests_get);
  GetRequest req;
  RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  auto pending = std::make_unique<PendingGet>();
  pending->worker = this;
  pending->conn = conn;
  pending->header = h;
  for (const auto& it : req.items) {
    pending->reply.items.push_back(ServeGetItem(*conn, it, &pending->pins));
    CountKeyStatus(pending->reply.items.back().status);
  }
  StartFlush(std::move(pending));
  return Status::Ok();
}

void ServerWorker::StartFlush(std::unique_ptr<PendingGet> pending) {
  Connection& c = *pending->conn;
  if (pending->pins.empty() || !c.alive()) {
    pending->pins.clear();
    c.SendReply(EncodeReply(pending->header.opcode, pending->header.request_id, Status::Ok(),
                            pending->reply));
    return;
  }
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.send = &ServerWorker::OnFlushDone;
  p.user_data = pending.get();
  ucs_status_ptr_t req = ucp_ep_flush_nbx(c.ep()->get(), &p);
  c.AddInFlight(1);
  ++gets_in_flight_;
  PendingGet* raw = pending.release();
  if (req == nullptr || UCS_PTR_IS_ERR(req)) {
    raw->flush_status = req == nullptr ? UCS_OK : UCS_PTR_STATUS(req);
    completed_gets_.push_back(raw);
  }
}

void ServerWorker::OnFlushDone(void* request, ucs_status_t status, void* user_data) {
  auto* pending = static_cast<PendingGet*>(user_data);
  pending->flush_status = status;
  pending->worker->completed_gets_.push_back(pending);
  ucp_request_free(request);
}

void ServerWorker::FinishGets() {
  std::vector<PendingGet*> done;
  done.swap(completed_gets_);
  for (PendingGet* raw : done) {
    std::unique_ptr<PendingGet> pending(raw);
    --gets_in_flight_;
    pending->conn->AddInFlight(-1);
    if (pending->flush_status != UCS_OK) {
      // The client is gone or broken: nothing was proven delivered, send nothing.
      Bump(counters_.put_errors);
      continue;
    }
    pending->pins.clear();  // release before replying: the client may reuse the block at once
    pending->conn->SendReply(EncodeReply(pending->header.opcode, pending->header.request_id,
                                         Status::Ok(), pending->reply));
  }
}

}  // namespace kvstash::net
