#include "net/proto/protocol.h"

#include <fmt/format.h>

#include <algorithm>

#include "net/proto/wire.h"

namespace kvstash::net {
namespace {

// Smallest encoding of one item of each kind (lets Count() reject impossible counts early).
constexpr size_t kMinKeyBytes = 2 + 1;
constexpr size_t kMinAllocateItem = kMinKeyBytes + 8;
constexpr size_t kMinCommitItem = kMinKeyBytes + 8 + 1 + 8;
constexpr size_t kMinAbortItem = kMinKeyBytes + 8;
constexpr size_t kMinGetItem = kMinKeyBytes + 4 + 8 + 8;

Status ReadKey(WireReader& r, const Limits& l, std::string_view* key) {
  return r.Str16(key, 1, l.max_key_bytes, "key");
}

Status ReadStatus(WireReader& r, StatusCode* code) {
  uint8_t v = 0;
  KVSTASH_RETURN_IF_ERROR(r.U8(&v));
  return StatusCodeFromWire(v, code);
}

// ---- Per-message bodies: Encode writes, Decode reads (with limits) ------------------------
void Encode(WireWriter& w, const HelloRequest& m) {
  w.U16(m.min_version);
  w.U16(m.max_version);
  w.U16(m.namespace_id);
  w.Str16(m.token);
}
Status Decode(WireReader& r, const Limits&, HelloRequest* m) {
  KVSTASH_RETURN_IF_ERROR(r.U16(&m->min_version));
  KVSTASH_RETURN_IF_ERROR(r.U16(&m->max_version));
  if (m->min_version > m->max_version) return Status::InvalidArgument("min_version > max");
  KVSTASH_RETURN_IF_ERROR(r.U16(&m->namespace_id));
  return r.Str16(&m->token, 0, Limits::kMaxTokenBytes, "token");
}

void Encode(WireWriter& w, const AllocateRequest& m) {
  w.U32(static_cast<uint32_t>(m.items.size()));
  for (const auto& it : m.items) {
    w.Str16(it.key);
    w.U64(it.size);
  }
}
Status Decode(WireReader& r, const Limits& l, AllocateRequest* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 1, l.max_batch_keys, kMinAllocateItem, "allocate"));
  m->items.resize(n);
  for (auto& it : m->items) {
    KVSTASH_RETURN_IF_ERROR(ReadKey(r, l, &it.key));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.size));
    if (it.size == 0 || it.size > l.max_value_bytes) {
      return Status::InvalidArgument(
          fmt::format("value size {} outside [1, {}]", it.size, l.max_value_bytes));
    }
  }
  return Status::Ok();
}

void Encode(WireWriter& w, const CommitRequest& m) {
  w.U32(static_cast<uint32_t>(m.items.size()));
  for (const auto& it : m.items) {
    w.Str16(it.key);
    w.U64(it.offset);
    w.U8(it.checksum.has_value() ? 1 : 0);
    w.U64(it.checksum.value_or(0));
  }
}
Status Decode(WireReader& r, const Limits& l, CommitRequest* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 1, l.max_batch_keys, kMinCommitItem, "commit"));
  m->items.resize(n);
  for (auto& it : m->items) {
    KVSTASH_RETURN_IF_ERROR(ReadKey(r, l, &it.key));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.offset));
    uint8_t has = 0;
    uint64_t sum = 0;
    KVSTASH_RETURN_IF_ERROR(r.U8(&has));
    KVSTASH_RETURN_IF_ERROR(r.U64(&sum));
    if (has > 1) return Status::InvalidArgument("checksum flag not 0/1");
    if (has == 1) it.checksum = sum;
  }
  return Status::Ok();
}

void Encode(WireWriter& w, const AbortRequest& m) {
  w.U32(static_cast<uint32_t>(m.items.size()));
  for (const auto& it : m.items) {
    w.Str16(it.key);
    w.U64(it.offset);
  }
}
Status Decode(WireReader& r, const Limits& l, AbortRequest* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 1, l.max_batch_keys, kMinAbortItem, "abort"));
  m->items.resize(n);
  for (auto& it : m->items) {
    KVSTASH_RETURN_IF_ERROR(ReadKey(r, l, &it.key));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.offset));
  }
  return Status::Ok();
}

void Encode(WireWriter& w, const RegisterBufferRequest& m) {
  w.U64(m.address);
  w.U64(m.length);
  w.Blob32(m.rkey);
}
Status Decode(WireReader& r, const Limits&, RegisterBufferRequest* m) {
  KVSTASH_RETURN_IF_ERROR(r.U64(&m->address));
  KVSTASH_RETURN_IF_ERROR(r.U64(&m->length));
  if (m->length == 0) return Status::InvalidArgument("empty buffer");
  if (m->address + m->length < m->address) return Status::InvalidArgument("buffer wraps");
  KVSTASH_RETURN_IF_ERROR(r.Blob32(&m->rkey, Limits::kMaxRkeyBytes, "rkey"));
  if (m->rkey.empty()) return Status::InvalidArgument("empty rkey");
  return Status::Ok();
}

void Encode(WireWriter& w, const UnregisterBufferRequest& m) { w.U32(m.buffer_id); }
Status Decode(WireReader& r, const Limits&, UnregisterBufferRequest* m) {
  return r.U32(&m->buffer_id);
}

void Encode(WireWriter& w, const GetRequest& m) {
  w.U32(static_cast<uint32_t>(m.items.size()));
  for (const auto& it : m.items) {
    w.Str16(it.key);
    w.U32(it.buffer_id);
    w.U64(it.offset);
    w.U64(it.capacity);
  }
}
Status Decode(WireReader& r, const Limits& l, GetRequest* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 1, l.max_batch_keys, kMinGetItem, "get"));
  m->items.resize(n);
  for (auto& it : m->items) {
    KVSTASH_RETURN_IF_ERROR(ReadKey(r, l, &it.key));
    KVSTASH_RETURN_IF_ERROR(r.U32(&it.buffer_id));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.offset));
    KVSTASH_RETURN_IF_ERROR(r.U64(&it.capacity));
    if (it.offset + it.capacity < it.offset) return Status::InvalidArgument("range wraps");
    if (it.buffer_id == kPayloadBufferId && it.offset != 0) {
      return Status::InvalidArgument("payload item with an offset");
    }
  }
  return Status::Ok();
}

void Encode(WireWriter& w, const KeysRequest& m) {
  w.U32(static_cast<uint32_t>(m.keys.size()));
  for (auto k : m.keys) w.Str16(k);
}
Status Decode(WireReader& r, const Limits& l, KeysRequest* m) {
  uint32_t n = 0;
  KVSTASH_RETURN_IF_ERROR(r.Count(&n, 1, l.max_batch_keys, kMinKeyBytes, "keys"));
  m->keys.resize(n);
  for (auto& k : m->keys) KVSTASH_RETURN_IF_ERROR(ReadKey(r, l, &k));
  return Status::Ok();
}

void Encode(WireWriter&, const StatsRequest&) {}
Status Decode(WireReader&, const Limits&, StatsRequest*) { return Status::Ok(); }
void Encode(WireWriter&, const GoodbyeRequest&) {}
Status Decode(WireReader&, const Limits&, GoodbyeRequest*) { return Status::Ok(); }
void Encode(WireWriter&, const EmptyReply&) {}
Status Decode(WireReader&, const Limits&, EmptyReply*) { return Status::Ok(); }

}  // namespace

// Replies live in protocol_replies.cc; these hooks let the templates below reach them.
void EncodeReplyBody(WireWriter& w, const HelloReply& m);
void EncodeReplyBody(WireWriter& w, const AllocateReply& m);
void EncodeReplyBody(WireWriter& w, const StatusListReply& m);
void EncodeReplyBody(WireWriter& w, const RegisterBufferReply& m);
void EncodeReplyBody(WireWriter& w, const GetReply& m);
void EncodeReplyBody(WireWriter& w, const ExistsReply& m);
void EncodeReplyBody(WireWriter& w, const LongestPrefixReply& m);
void EncodeReplyBody(WireWriter& w, const StatsReply& m);
Status DecodeReplyBody(WireReader& r, const Limits& l, HelloReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, AllocateReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, StatusListReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, RegisterBufferReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, GetReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, ExistsReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, LongestPrefixReply* m);
Status DecodeReplyBody(WireReader& r, const Limits& l, StatsReply* m);

namespace {
void EncodeAny(WireWriter& w, const auto& m) {
  if constexpr (requires { Encode(w, m); }) {
    Encode(w, m);
  } else {
    EncodeReplyBody(w, m);
  }
}
template <typename Body>
Status DecodeAny(WireReader& r, const Limits& l, Body* m) {
  if constexpr (requires { Decode(r, l, m); }) {
    return Decode(r, l, m);
  } else {
    return DecodeReplyBody(r, l, m);
  }
}

void EncodeHeader(WireWriter& w, Opcode op, bool reply, uint64_t request_id) {
  w.U32(kMagic);
  w.U16(kProtocolVersion);
  w.U16(static_cast<uint16_t>(op) | (reply ? kReplyBit : 0));
  w.U32(0);
  w.U64(request_id);
  w.U32(0);  // body length, patched at the end
}

std::vector<std::byte> Finish(WireWriter& w) {
  w.PatchU32(kHeaderBytes - 4, static_cast<uint32_t>(w.size() - kHeaderBytes));
  return w.Take();
}
}  // namespace

std::string_view OpcodeName(Opcode op) {
  static constexpr std::string_view kNames[] = {
      "?",   "Hello",  "Allocate",      "Commit", "Abort", "RegisterBuffer", "UnregisterBuffer",
      "Get", "Exists", "LongestPrefix", "Delete", "Stats", "Goodbye"};
  auto i = static_cast<uint16_t>(op);
  return i <= kMaxOpcode ? kNames[i] : "?";
}

size_t Limits::MaxMessageBytes() const {
  size_t per_item = 2 + max_key_bytes + 4 + 8 + 8 + 1;  // the largest item (Get)
  size_t batch = kHeaderBytes + 4 + static_cast<size_t>(max_batch_keys) * per_item;
  size_t fixed = kHeaderBytes + 64 + kMaxRkeyBytes + kMaxTokenBytes + kMaxMessageText;
  return std::max(batch, fixed);
}

std::array<std::byte, kPayloadHeaderBytes> EncodePayloadHeader(const PayloadHeader& h) {
  WireWriter w;
  w.U64(h.request_id);
  w.U32(h.item);
  std::array<std::byte, kPayloadHeaderBytes> out{};
  std::copy(w.buffer().begin(), w.buffer().end(), out.begin());
  return out;
}

Status DecodePayloadHeader(std::span<const std::byte> in, PayloadHeader* out) {
  if (in.size() != kPayloadHeaderBytes) {
    return Status::InvalidArgument(fmt::format("payload header of {} bytes", in.size()));
  }
  WireReader r(in);
  KVSTASH_RETURN_IF_ERROR(r.U64(&out->request_id));
  return r.U32(&out->item);
}

std::array<std::byte, kPutPayloadHeaderBytes> EncodePutPayloadHeader(uint64_t arena_offset) {
  WireWriter w;
  w.U64(arena_offset);
  std::array<std::byte, kPutPayloadHeaderBytes> out{};
  std::copy(w.buffer().begin(), w.buffer().end(), out.begin());
  return out;
}

Status DecodePutPayloadHeader(std::span<const std::byte> in, uint64_t* arena_offset) {
  if (in.size() != kPutPayloadHeaderBytes) {
    return Status::InvalidArgument(fmt::format("put payload header of {} bytes", in.size()));
  }
  WireReader r(in);
  return r.U64(arena_offset);
}

Status StatusCodeFromWire(uint8_t v, StatusCode* out) {
  if (v > static_cast<uint8_t>(StatusCode::kInternal)) {
    return Status::InvalidArgument(fmt::format("unknown status code {}", v));
  }
  *out = static_cast<StatusCode>(v);
  return Status::Ok();
}

Status DecodeHeader(std::span<const std::byte> msg, Header* out) {
  WireReader r(msg);
  uint32_t magic = 0;
  uint16_t op = 0;
  KVSTASH_RETURN_IF_ERROR(r.U32(&magic));
  if (magic != kMagic) return Status::InvalidArgument(fmt::format("bad magic {:#x}", magic));
  KVSTASH_RETURN_IF_ERROR(r.U16(&out->version));
  if (out->version != kProtocolVersion) {
    return Status::InvalidArgument(fmt::format("unsupported version {}", out->version));
  }
  KVSTASH_RETURN_IF_ERROR(r.U16(&op));
  out->reply = (op & kReplyBit) != 0;
  op &= static_cast<uint16_t>(~kReplyBit);
  if (op == 0 || op > kMaxOpcode) return Status::InvalidArgument(fmt::format("opcode {}", op));
  out->opcode = static_cast<Opcode>(op);
  KVSTASH_RETURN_IF_ERROR(r.U32(&out->flags));
  if (out->flags != 0) return Status::InvalidArgument("unknown flags");
  KVSTASH_RETURN_IF_ERROR(r.U64(&out->request_id));
  KVSTASH_RETURN_IF_ERROR(r.U32(&out->body_bytes));
  if (out->body_bytes != r.remaining()) {
    return Status::InvalidArgument(
        fmt::format("body length {} but {} bytes follow", out->body_bytes, r.remaining()));
  }
  return Status::Ok();
}

Status DecodeReplyStatus(std::span<const std::byte> body, Status* request_status,
                         std::span<const std::byte>* rest) {
  WireReader r(body);
  StatusCode code;
  std::string_view text;
  KVSTASH_RETURN_IF_ERROR(ReadStatus(r, &code));
  KVSTASH_RETURN_IF_ERROR(r.Str16(&text, 0, Limits::kMaxMessageText, "status message"));
  *request_status = code == StatusCode::kOk ? Status() : Status(code, std::string(text));
  if (code != StatusCode::kOk) KVSTASH_RETURN_IF_ERROR(r.ExpectEnd());
  *rest = body.subspan(body.size() - r.remaining());
  return Status::Ok();
}

template <typename Body>
std::vector<std::byte> EncodeRequest(Opcode op, uint64_t request_id, const Body& body) {
  WireWriter w(256);
  EncodeHeader(w, op, false, request_id);
  EncodeAny(w, body);
  return Finish(w);
}

template <typename Body>
std::vector<std::byte> EncodeReply(Opcode op, uint64_t request_id, const Status& status,
                                   const Body& body) {
  WireWriter w(256);
  EncodeHeader(w, op, true, request_id);
  w.U8(static_cast<uint8_t>(status.code()));
  std::string_view text = status.message();
  w.Str16(text.substr(0, Limits::kMaxMessageText));
  if (status.ok()) EncodeAny(w, body);
  return Finish(w);
}

template <typename Body>
Status DecodeBody(std::span<const std::byte> body, const Limits& limits, Body* out) {
  WireReader r(body);
  KVSTASH_RETURN_IF_ERROR(DecodeAny(r, limits, out));
  return r.ExpectEnd();
}

#define KVSTASH_INSTANTIATE_REQUEST(T)                                          \
  template std::vector<std::byte> EncodeRequest<T>(Opcode, uint64_t, const T&); \
  template Status DecodeBody<T>(std::span<const std::byte>, const Limits&, T*);
#define KVSTASH_INSTANTIATE_REPLY(T)                                                         \
  template std::vector<std::byte> EncodeReply<T>(Opcode, uint64_t, const Status&, const T&); \
  template Status DecodeBody<T>(std::span<const std::byte>, const Limits&, T*);

KVSTASH_INSTANTIATE_REQUEST(HelloRequest)
KVSTASH_INSTANTIATE_REQUEST(AllocateRequest)
KVSTASH_INSTANTIATE_REQUEST(CommitRequest)
KVSTASH_INSTANTIATE_REQUEST(AbortRequest)
KVSTASH_INSTANTIATE_REQUEST(RegisterBufferRequest)
KVSTASH_INSTANTIATE_REQUEST(UnregisterBufferRequest)
KVSTASH_INSTANTIATE_REQUEST(GetRequest)
KVSTASH_INSTANTIATE_REQUEST(KeysRequest)
KVSTASH_INSTANTIATE_REQUEST(StatsRequest)
KVSTASH_INSTANTIATE_REQUEST(GoodbyeRequest)
KVSTASH_INSTANTIATE_REPLY(HelloReply)
KVSTASH_INSTANTIATE_REPLY(AllocateReply)
KVSTASH_INSTANTIATE_REPLY(StatusListReply)
KVSTASH_INSTANTIATE_REPLY(RegisterBufferReply)
KVSTASH_INSTANTIATE_REPLY(EmptyReply)
KVSTASH_INSTANTIATE_REPLY(GetReply)
KVSTASH_INSTANTIATE_REPLY(ExistsReply)
KVSTASH_INSTANTIATE_REPLY(LongestPrefixReply)
KVSTASH_INSTANTIATE_REPLY(StatsReply)

}  // namespace kvstash::net
