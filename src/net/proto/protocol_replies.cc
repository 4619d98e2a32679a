// Reply bodies of the wire protocol (requests are in protocol.cc).
#include <fmt/format.h>

#include "net/proto/protocol.h"
#include "net/proto/wire.h"

namespace kvstash::net {
namespace {

Status ReadStatus(WireReader& r, StatusCode* code) {
  uint8_t v = 0;
  KVSTASH_RETURN_IF_ERROR(r.U8(&v));
  return StatusCodeFromWire(v, code);
}

}  // namespace

void EncodeReplyBody(WireWriter& w, const HelloReply& m) {
  w.U16(m.version);
  w.U64(m.arena_address);
  w.U64(m.arena_bytes);
  w.Blob32(m.arena_rkey);
  w.U32(m.limits.max_key_bytes);
  w.U64(m.limits.max_value_bytes);
  w.U32(m.limits.max_batch_keys);
  w.U32(m.limits.max_outstanding);
}

Status DecodeReplyBody(WireReader& r, const Limits&, HelloReply* m) {
  KVSTASH_RETURN_IF_ERROR(r.U16(&m->version));
  if (m->version != kProtocolVersion) return Status::InvalidArgument("server version");
  KVSTASH_RETURN_IF_ERROR(r.U64(&m->arena_address));
  KVSTASH_RETURN_IF_ERROR(r.U64(&m->arena_bytes));
  if (m->arena_address + m->arena_bytes < m->arena_address) {
    return Status::InvalidArgument("arena wraps");
  }
  KVSTASH_RETURN_IF_ERROR(r.Blob32(&m->arena_rkey, Limits::kMaxRkeyBytes, "arena rkey"));
  KVSTASH_RETURN_IF_ERROR(r.U32(&m->limits.max_key_bytes));
  KVSTASH_RETURN_IF_ERROR(r.U64(&m->limits.max_value_bytes));
  KVSTASH_RETURN_IF_ERROR(r.U32(&m->limits.max_batch_keys));
  KVSTASH_RETURN_IF_ERROR(r.U32(&m->limits.max_outstanding));
  const Limits& l = m->limits;
  if (l.max_key_bytes < 1 || l.max_key_bytes > 256 || l.max_value_bytes == 0 ||
      l.max_batch_keys < 1 || l.max_batch_keys > 4096 || l.max_outstanding < 1) {
    return Status::InvalidArgument("server limits out of range");
  }
  return Status::Ok();
}

void EncodeReplyBody(WireWriter& w, const AllocateReply& m) {
  w.U32(static_cast<uint32_t>(m.items.size()));
  for (const auto& it : m.items) {
    w.U8(static_cast<uint8_t>(it.status));
    w.U64(it.offset);
    w.U32(it.lease_ms);
  }
}

Status DecodeReplyBody(WireReader& r, const Limits& l, AllocateReply* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 0, l.max_batch_keys, 13, "allocate reply"));
  m->items.resize(n);
  for (auto& it : m->items) {
    KVSTASH_RETURN_IF_ERROR(ReadStatus(r, &it.status));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.offset));
    KVSTASH_RETURN_IF_ERROR(r.U32(&it.lease_ms));
  }
  return Status::Ok();
}

void EncodeReplyBody(WireWriter& w, const StatusListReply& m) {
  w.U32(static_cast<uint32_t>(m.statuses.size()));
  for (auto s : m.statuses) w.U8(static_cast<uint8_t>(s));
}

Status DecodeReplyBody(WireReader& r, const Limits& l, StatusListReply* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 0, l.max_batch_keys, 1, "status list"));
  m->statuses.resize(n);
  for (auto& s : m->statuses) KVSTASH_RETURN_IF_ERROR(ReadStatus(r, &s));
  return Status::Ok();
}

void EncodeReplyBody(WireWriter& w, const RegisterBufferReply& m) { w.U32(m.buffer_id); }

Status DecodeReplyBody(WireReader& r, const Limits&, RegisterBufferReply* m) {
  return r.U32(&m->buffer_id);
}

void EncodeReplyBody(WireWriter& w, const GetReply& m) {
  w.U32(static_cast<uint32_t>(m.items.size()));
  for (const auto& it : m.items) {
    w.U8(static_cast<uint8_t>(it.status));
    w.U64(it.size);
  }
}

Status DecodeReplyBody(WireReader& r, const Limits& l, GetReply* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 0, l.max_batch_keys, 9, "get reply"));
  m->items.resize(n);
  for (auto& it : m->items) {
    KVSTASH_RETURN_IF_ERROR(ReadStatus(r, &it.status));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.size));
  }
  return Status::Ok();
}

void EncodeReplyBody(WireWriter& w, const ExistsReply& m) {
  w.U32(static_cast<uint32_t>(m.present.size()));
  std::vector<std::byte> bits((m.present.size() + 7) / 8);
  for (size_t i = 0; i < m.present.size(); ++i) {
    if (m.present[i]) bits[i / 8] |= static_cast<std::byte>(1u << (i % 8));
  }
  w.Bytes(bits);
}

Status DecodeReplyBody(WireReader& r, const Limits& l, ExistsReply* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 0, l.max_batch_keys, 0, "exists reply"));
  std::span<const std::byte> bits;
  KVSTASH_RETURN_IF_ERROR(r.Bytes(&bits, (n + 7) / 8, "exists bitmap"));
  m->present.assign(n, false);
  for (uint32_t i = 0; i < n; ++i) {
    m->present[i] = (static_cast<unsigned>(bits[i / 8]) >> (i % 8)) & 1u;
  }
  if (n % 8 != 0 && (static_cast<unsigned>(bits[n / 8]) >> (n % 8)) != 0) {
    return Status::InvalidArgument("exists bitmap padding bits set");
  }
  return Status::Ok();
}

void EncodeReplyBody(WireWriter& w, const LongestPrefixReply& m) { w.U32(m.count); }

Status DecodeReplyBody(WireReader& r, const Limits& l, LongestPrefixReply* m) {
  KVSTASH_RETURN_IF_ERROR(r.U32(&m->count));
  if (m->count > l.max_batch_keys) return Status::InvalidArgument("prefix count over batch");
  return Status::Ok();
}

void EncodeReplyBody(WireWriter& w, const StatsReply& m) {
  w.U32(static_cast<uint32_t>(m.entries.size()));
  for (const auto& [name, value] : m.entries) {
    w.Str16(std::string_view(name).substr(0, Limits::kMaxStatName));
    w.U64(value);
  }
}

Status DecodeReplyBody(WireReader& r, const Limits&, StatsReply* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 0, Limits::kMaxStatsEntries, 2 + 1 + 8, "stats"));
  m->entries.resize(n);
  for (auto& [name, value] : m->entries) {
    std::string_view s;
    KVSTASH_RETURN_IF_ERROR(r.Str16(&s, 1, Limits::kMaxStatName, "stat name"));
    name.assign(s);
    KVSTASH_RETURN_IF_ERROR(r.U64(&value));
  }
  return Status::Ok();
}

}  // namespace kvstash::net
