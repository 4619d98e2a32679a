// ServerWorker: the Get path. For every hit, a one-sided ucp_put_nbx moves the block into the
// client's registered buffer (or, for a client on this host whose buffer is a shared segment
// mapped here, one memcpy: RemoteBuffer::mapped): from the arena (DRAM pin; at once) or from a
// slice of the worker's registered bounce memory (flash pin) once the reader threads have read it
// there (server_flash_reader.h), so the event loop never waits for the device and the flash
// reads of every Get in flight overlap. A Get's flash hits are cut into chunks spread over the
// reader threads; each chunk is put and flushed as soon as it is read, so one Get's reads,
// checksums and transfers overlap. Only a flush's completion proves the bytes reached the
// client (a put's local completion does not): a chunk's bounce slice is freed after its flush,
// and the reply goes out after every chunk's flush and a last flush of the DRAM puts. A flash
// pin is released by the reader as soon as its block is in the slice: it guards the device
// region, which the put never reads. A client buffer mapped here (same host, shared memory)
// needs no slice: the reader reads the block straight into it (the device DMAs there when it
// is 4 KiB aligned; RegionStore copies it in otherwise) and verifies it there; the Get holds
// the mapping (its RemoteKey) until it is done, whatever the client unregisters meanwhile.
//
// Items asked for with kPayloadBufferId (the client's choice where its endpoint has no native
// RMA lane) are sent as payload active messages from the same memory instead: a rendezvous
// over TCP is received by the client straight into its memory (kernel copies only), where an
// emulated put would copy every byte into and out of bounce segments on both sides. The memory
// (pin or slice) is held until the send completes, which, unlike a put's local completion,
// means the client has the bytes; the reply waits for every send as for the flushes.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/logging.h"
#include "net/server_worker.h"
#include "net/ucx_status.h"

namespace kvstash::net {
namespace {

ucp_request_param_t PutParams(ucp_mem_h memh) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_MEMH;
  p.memh = memh;
  return p;
}

// Flushes `ep`; `done(user_data, status)` runs from UCX progress when the flush completes
// later. Returns true with `*status` set if it completed (or failed) at once instead.
bool FlushNow(ucp_ep_h ep, ucp_send_nbx_callback_t done, void* user_data, ucs_status_t* status) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.send = done;
  p.user_data = user_data;
  ucs_status_ptr_t req = ucp_ep_flush_nbx(ep, &p);
  if (req != nullptr && !UCS_PTR_IS_ERR(req)) return false;
  *status = req == nullptr ? UCS_OK : UCS_PTR_STATUS(req);
  return true;
}

}  // namespace

StatusCode ServerWorker::SendPayload(PendingGet& pending, size_t item,
                                     std::span<const std::byte> src, ucp_mem_h memh,
                                     ucp_send_nbx_callback_t done, void* user_data,
                                     bool* in_flight) {
  Connection& c = *pending.conn;
  auto& header = pending.payload_headers[item];
  header = EncodePayloadHeader({pending.header.request_id, static_cast<uint32_t>(item)});
  ucp_request_param_t p{};
  p.op_attr_mask =
      UCP_OP_ATTR_FIELD_MEMH | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.memh = memh;
  p.cb.send = done;
  p.user_data = user_data;
  ucs_status_ptr_t req = ucp_am_send_nbx(c.ep()->get(), kPayloadAmId, header.data(), header.size(),
                                         src.data(), src.size(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    Bump(counters_.get_write_errors);
    return UcsToStatus(UCS_PTR_STATUS(req), "ucp_am_send_nbx").code();
  }
  *in_flight = req != nullptr;  // `done` frees it
  Bump(counters_.get_bytes_messages, src.size());
  return StatusCode::kOk;
}

StatusCode ServerWorker::PutDram(Connection& c, const BlockPin& pin, const RemoteBuffer& buf,
                                 uint64_t offset) {
  const std::byte* src = c.store()->arena_base() + pin.arena_offset().value();
  if (buf.mapped != nullptr) {  // same host, shared memory: one copy, no transport
    std::memcpy(buf.mapped + offset, src, pin.size());
    Bump(counters_.get_bytes_dram, pin.size());
    Bump(counters_.get_bytes_mapped, pin.size());
    Bump(counters_.dram_payload_memcpy_bytes, pin.size());
    return StatusCode::kOk;
  }
  ucp_request_param_t p = PutParams(c.arena()->get());
  ucs_status_ptr_t req =
      ucp_put_nbx(c.ep()->get(), src, pin.size(), buf.address + offset, buf.rkey->get(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    Bump(counters_.get_write_errors);
    return UcsToStatus(UCS_PTR_STATUS(req), "ucp_put_nbx").code();
  }
  if (req != nullptr) ucp_request_free(req);  // completion is covered by the flush
  Bump(counters_.get_bytes_dram, pin.size());
  return StatusCode::kOk;
}

// Puts (or sends) flash item `item` of `chunk`'s Get from `src` (its bounce bytes) after its
// read returned `read`. The slice stays allocated until the chunk's flush and sends complete:
// no wait here. `*put` is set when an RMA put was issued (the chunk's flush covers it).
StatusCode ServerWorker::PutFlash(FlashChunk& chunk, size_t item, std::span<std::byte> src,
                                  const Status& read, bool* put) {
  PendingGet& pending = *chunk.get;
  Connection& c = *pending.conn;
  if (!c.alive()) return StatusCode::kUnavailable;  // no put, no reply: the client is gone
  if (!read.ok()) {
    if (read.code() == StatusCode::kUnavailable) Bump(counters_.flash_reads_unavailable);
    KVSTASH_LOG_EVERY_N_SEC(warn, 10, "flash read failed: {}", read.ToString());
    return read.code();
  }
  const PendingGet::FlashItem& f = pending.flash[item];
  if (f.direct != nullptr) {  // read straight into the client's mapped buffer: nothing to move
    Bump(counters_.get_bytes_flash, src.size());
    Bump(counters_.get_bytes_mapped, src.size());
    Bump(counters_.get_bytes_flash_direct, src.size());
    return StatusCode::kOk;
  }
  if (f.buffer_id == kPayloadBufferId) {
    bool in_flight = false;
    StatusCode code = SendPayload(pending, f.reply_index, src, bounce_->memh(),
                                  &ServerWorker::OnChunkPartDone, &chunk, &in_flight);
    if (in_flight) ++chunk.parts_out;
    if (code == StatusCode::kOk) Bump(counters_.get_bytes_flash, src.size());
    return code;
  }
  // Looked up again: the client may have unregistered the buffer while the read ran.
  const RemoteBuffer* buf = c.FindBuffer(f.buffer_id);
  if (buf == nullptr || !buf->Contains(f.offset, src.size())) return StatusCode::kInvalidArgument;
  if (buf->mapped != nullptr) {
    std::memcpy(buf->mapped + f.offset, src.data(), src.size());
    Bump(counters_.get_bytes_flash, src.size());
    Bump(counters_.get_bytes_mapped, src.size());
    return StatusCode::kOk;
  }
  ucp_request_param_t p = PutParams(bounce_->memh());
  ucs_status_ptr_t req = ucp_put_nbx(c.ep()->get(), src.data(), src.size(), buf->address + f.offset,
                                     buf->rkey->get(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    Bump(counters_.get_write_errors);
    return UcsToStatus(UCS_PTR_STATUS(req), "ucp_put_nbx").code();
  }
  if (req != nullptr) ucp_request_free(req);  // completion is covered by the chunk's flush
  *put = true;
  Bump(counters_.get_bytes_flash, src.size());
  return StatusCode::kOk;
}

void ServerWorker::ServeGetItem(Connection& c, const GetRequest::Item& it, PendingGet* pending) {
  size_t index = pending->reply.items.size();
  GetReply::Item& out = pending->reply.items.emplace_back();
  const bool payload = it.buffer_id == kPayloadBufferId;
  const RemoteBuffer* buf = payload ? nullptr : c.FindBuffer(it.buffer_id);
  Result<BlockPin> pin = Status::InvalidArgument("bad buffer range");
  if (payload || (buf != nullptr && buf->Contains(it.offset, it.capacity))) {
    pin = c.store()->Lookup(c.ns(), it.key);
    if (pin.status().Is(StatusCode::kNotFound)) Bump(counters_.get_misses);
    if (pin.ok()) Bump(counters_.get_hits);
  }
  if (!pin.ok()) {
    out.status = pin.status().code();
    CountKeyStatus(out.status);
    return;
  }
  out.size = pin->size();
  if (pin->size() > it.capacity) {
    out.status = StatusCode::kInvalidArgument;  // too small; `size` tells the client
  } else if (!c.alive()) {
    out.status = StatusCode::kUnavailable;
  } else if (pin->tier() == Tier::kDram && payload) {
    const std::byte* src = c.store()->arena_base() + pin->arena_offset().value();
    bool in_flight = false;
    out.status = SendPayload(*pending, index, {src, pin->size()}, c.arena()->get(),
                             &ServerWorker::OnGetPartDone, pending, &in_flight);
    if (out.status == StatusCode::kOk) {
      if (in_flight) ++pending->parts_out;
      Bump(counters_.get_bytes_dram, pin->size());
      pending->pins.push_back(std::move(pin).value());  // held until the send completed
    }
  } else if (pin->tier() == Tier::kDram) {
    out.status = PutDram(c, *pin, *buf, it.offset);
    if (out.status == StatusCode::kOk) {
      pending->puts = true;
      pending->pins.push_back(std::move(pin).value());
    }
  } else {  // flash: the status is set (and counted) when the read comes back
    pending->flash_bytes += BounceArena::RoundUp(pin->size());
    PendingGet::FlashItem& f = pending->flash.emplace_back();
    f.reply_index = index;
    f.buffer_id = it.buffer_id;
    f.offset = it.offset;
    f.size = pin->size();
    f.pin = std::move(pin).value();
    if (buf != nullptr && buf->mapped != nullptr) {
      f.direct = buf->mapped + it.offset;
      f.mapping = buf->rkey;
    }
    return;
  }
  CountKeyStatus(out.status);
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
  pending->reply.items.reserve(req.items.size());
  pending->payload_headers.resize(req.items.size());
  conn->AddInFlight(1);
  ++gets_in_flight_;
  for (const auto& it : req.items) ServeGetItem(*conn, it, pending.get());
  if (pending->flash.empty()) {
    StartFlush(std::move(pending));
  } else {
    PendingGet* raw = pending.get();
    flash_gets_.emplace(raw, std::move(pending));
    flash_waiting_.push_back(raw);
    PumpFlashReads();
  }
  return Status::Ok();
}

Status ServerWorker::EnsureFlashResources() {
  if (bounce_ == nullptr) {
    // Never less than one block of the largest size, so every Get can make progress.
    uint64_t bytes = std::max(shared_->options.flash_bounce_bytes,
                              BounceArena::RoundUp(shared_->options.max_value_bytes));
    ASSIGN_OR_RETURN(bounce_, BounceArena::Create(*shared_->context, bytes));
  }
  if (reader_ == nullptr) {
    UcxWorker* w = worker_.get();
    reader_ = std::make_unique<FlashReader>(shared_->options.flash_readers, [w] { w->Signal(); });
  }
  return Status::Ok();
}

void ServerWorker::PumpFlashReads() {
  while (!flash_waiting_.empty()) {
    PendingGet& p = *flash_waiting_.front();
    Status setup = p.conn->alive() ? EnsureFlashResources() : Status::Unavailable("gone");
    if (!setup.ok()) {
      // The client is gone, or there is no bounce memory: the remaining flash keys fail.
      for (size_t i = p.flash_next; i < p.flash.size(); ++i) {
        StatusCode code = p.conn->alive() ? setup.code() : StatusCode::kUnavailable;
        p.reply.items[p.flash[i].reply_index].status = code;
        CountKeyStatus(code);
      }
      KVSTASH_LOG_EVERY_N_SEC(warn, 10, "flash hits not served: {}", setup.ToString());
      p.flash_next = p.flash.size();
      flash_waiting_.pop_front();
      MaybeFinishFlashGet(&p);
      continue;
    }
    // The next chunk: the Get's flash bytes spread over the reader threads (so its chunks are
    // read, checksummed and put in parallel), at most a quarter of the arena (so a huge batch
    // does not hold all of it and Gets of other connections still overlap), at least one item.
    const uint64_t quarter =
        std::max(bounce_->capacity() / 4, BounceArena::RoundUp(shared_->options.max_value_bytes));
    const uint64_t readers = std::max<uint32_t>(1, shared_->options.flash_readers);
    const uint64_t limit = std::min(quarter, (p.flash_bytes + readers - 1) / readers);
    uint64_t bytes = 0;
    uint64_t bounce_bytes = 0;  // of `bytes`: items not read straight into a mapped buffer
    size_t end = p.flash_next;
    while (end < p.flash.size()) {
      uint64_t b = BounceArena::RoundUp(p.flash[end].size);
      if (end > p.flash_next && bytes + b > limit) break;
      bytes += b;
      if (p.flash[end].direct == nullptr) bounce_bytes += b;
      ++end;
    }
    std::optional<BounceArena::Slice> slice = BounceArena::Slice{};
    if (bounce_bytes > 0) slice = bounce_->Allocate(bounce_bytes);
    if (!slice) return;  // a completed flush will free bounce memory and pump again
    auto chunk = std::make_unique<FlashChunk>();
    chunk->get = &p;
    chunk->first = p.flash_next;
    chunk->count = end - p.flash_next;
    chunk->slice = *slice;
    auto job = std::make_unique<FlashReader::Job>();
    job->store = p.conn->store();
    job->owner = chunk.get();
    std::span<std::byte> mem = bounce_->bytes(chunk->slice);
    uint64_t at = 0;
    for (size_t i = p.flash_next; i < end; ++i) {
      PendingGet::FlashItem& f = p.flash[i];
      job->pins.push_back(std::move(f.pin));
      if (f.direct != nullptr) {
        // Into the client's mapped buffer: the device writes there directly when it is 4 KiB
        // aligned and the size is a multiple of 4 KiB; otherwise the reader copies it in.
        job->dests.emplace_back(f.direct, f.size);
        continue;
      }
      // The whole 4 KiB-rounded slot: the flash read then lands directly in this registered
      // memory (RegionStore reads into an aligned destination that holds the value extent).
      job->dests.push_back(mem.subspan(at, BounceArena::RoundUp(f.size)));
      at += BounceArena::RoundUp(f.size);
    }
    p.chunks.push_back(std::move(chunk));
    ++p.chunks_out;
    p.flash_next = end;
    if (p.flash_next == p.flash.size()) flash_waiting_.pop_front();
    reader_->Submit(std::move(job));
  }
}

void ServerWorker::CollectFlashReads() {
  if (reader_ == nullptr || !reader_->has_done()) return;
  for (auto& job : reader_->TakeDone()) OnFlashRead(std::move(job));
}

void ServerWorker::OnFlashRead(std::unique_ptr<FlashReader::Job> job) {
  FlashChunk* chunk = static_cast<FlashChunk*>(job->owner);
  PendingGet& p = *chunk->get;
  bool puts = false;
  for (size_t j = 0; j < job->size(); ++j) {
    size_t item = chunk->first + j;
    // The slot was 4 KiB-rounded for the read; the client gets exactly the value.
    std::span<std::byte> value = job->dests[j].first(p.flash[item].size);
    StatusCode code = PutFlash(*chunk, item, value, job->results[j], &puts);
    p.reply.items[p.flash[item].reply_index].status = code;
    CountKeyStatus(code);
  }
  if (puts && p.conn->alive()) {  // else nothing to flush (or nobody to flush to)
    ucs_status_t status = UCS_OK;
    if (FlushNow(p.conn->ep()->get(), &ServerWorker::OnChunkPartDone, chunk, &status)) {
      if (chunk->flush_status == UCS_OK) chunk->flush_status = status;
    } else {
      ++chunk->parts_out;
    }
  }
  if (chunk->parts_out == 0) completed_chunks_.push_back(chunk);
}

void ServerWorker::OnChunkPartDone(void* request, ucs_status_t status, void* user_data) {
  auto* chunk = static_cast<FlashChunk*>(user_data);
  chunk->get->worker->ChunkPartDone(chunk, status);
  ucp_request_free(request);
}

void ServerWorker::ChunkPartDone(FlashChunk* chunk, ucs_status_t status) {
  if (status != UCS_OK && chunk->flush_status == UCS_OK) chunk->flush_status = status;
  if (--chunk->parts_out == 0) completed_chunks_.push_back(chunk);
}

void ServerWorker::SettleChunks() {
  std::vector<FlashChunk*> done;
  done.swap(completed_chunks_);
  for (FlashChunk* chunk : done) {
    if (chunk->slice.bytes > 0) bounce_->Free(std::exchange(chunk->slice, {}));
    PendingGet* p = chunk->get;
    if (chunk->flush_status != UCS_OK) p->chunk_failed = true;
    --p->chunks_out;
    MaybeFinishFlashGet(p);
  }
}

// Once every flash hit of `p` was handed out and every chunk settled: a failed chunk flush
// drops the Get (nothing is proven delivered); otherwise its own flush (its DRAM puts, if
// any) and then the reply.
void ServerWorker::MaybeFinishFlashGet(PendingGet* p) {
  if (p->flash_next < p->flash.size() || p->chunks_out > 0) return;
  auto it = flash_gets_.find(p);
  std::unique_ptr<PendingGet> owned = std::move(it->second);
  flash_gets_.erase(it);
  // A failed chunk drops the Get (FinishGets), once its DRAM payload sends are done too.
  if (owned->chunk_failed && owned->flush_status == UCS_OK) owned->flush_status = UCS_ERR_IO_ERROR;
  StartFlush(std::move(owned));
}

void ServerWorker::StartFlush(std::unique_ptr<PendingGet> pending) {
  PendingGet* p = pending.release();  // owned by its parts from here, then by FinishGets
  p->finishing = true;
  Connection& c = *p->conn;
  // Nothing to flush without puts (FinishGets drops a dead connection's Gets).
  if (p->puts && c.alive() && p->flush_status == UCS_OK) {
    ucs_status_t status = UCS_OK;
    if (FlushNow(c.ep()->get(), &ServerWorker::OnGetPartDone, p, &status)) {
      p->flush_status = status;
    } else {
      ++p->parts_out;
    }
  }
  if (p->parts_out == 0) completed_gets_.push_back(p);
}

void ServerWorker::OnGetPartDone(void* request, ucs_status_t status, void* user_data) {
  auto* pending = static_cast<PendingGet*>(user_data);
  pending->worker->GetPartDone(pending, status);
  ucp_request_free(request);
}

void ServerWorker::GetPartDone(PendingGet* pending, ucs_status_t status) {
  if (status != UCS_OK && pending->flush_status == UCS_OK) pending->flush_status = status;
  if (--pending->parts_out == 0 && pending->finishing) completed_gets_.push_back(pending);
}

void ServerWorker::FinishGets() {
  while (!completed_gets_.empty() || !completed_chunks_.empty()) {
    SettleChunks();  // frees bounce memory; finished flash Gets join completed_gets_
    std::vector<PendingGet*> done;
    done.swap(completed_gets_);
    for (PendingGet* raw : done) {
      std::unique_ptr<PendingGet> p(raw);
      if (p->flush_status != UCS_OK) {
        // The client is gone or broken: nothing was proven delivered, send nothing.
        Bump(counters_.get_write_errors);
        CompleteGet(std::move(p), /*reply=*/false);
      } else if (!p->conn->alive()) {
        CompleteGet(std::move(p), /*reply=*/false);
      } else {
        CompleteGet(std::move(p), /*reply=*/true);
      }
    }
    PumpFlashReads();  // bounce memory was freed; a dead connection's Gets come back here
  }
}

void ServerWorker::CompleteGet(std::unique_ptr<PendingGet> pending, bool reply) {
  --gets_in_flight_;
  pending->conn->AddInFlight(-1);
  // Release before replying: the client may reuse (or delete) the block at once.
  pending->pins.clear();
  pending->flash.clear();
  if (!reply) return;
  pending->conn->SendReply(EncodeReply(pending->header.opcode, pending->header.request_id,
                                       Status::Ok(), pending->reply));
}

}  // namespace kvstash::net
