// The kvstash wire protocol: control messages carried as UCP active messages
// (docs/PROTOCOL.md is the normative description; keep the two in step).
//
// Every message = 24-byte header + body, all little-endian:
//   u32 magic "KVS1" | u16 version | u16 opcode (bit 15 set on replies) | u32 flags (0)
//   | u64 request id | u32 body length (must equal the bytes that follow)
// A reply body starts with the request status (u8 code + u16-length message); the rest of
// the body is present only when that status is OK.
//
// Decoders check every length and count against Limits before using it and reject trailing
// bytes; a decode error is InvalidArgument. Decoded messages hold string_views/spans into the
// input buffer: they live as long as that buffer.
//
// Thread safety: pure functions.
#ifndef KVSTASH_NET_PROTOCOL_H_
#define KVSTASH_NET_PROTOCOL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvstash/status.h"

namespace kvstash::net {

inline constexpr uint32_t kMagic = 0x3153564B;  // bytes 'K' 'V' 'S' '1'
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr size_t kHeaderBytes = 24;
inline constexpr uint16_t kReplyBit = 0x8000;
// UCP active-message ids: client->server requests and server->client replies.
inline constexpr unsigned kRequestAmId = 0x4B;
inline constexpr unsigned kReplyAmId = 0x4C;
// Payload active messages (server->client): the bytes of one Get item asked for with
// buffer_id 0 (kPayloadBufferId). The AM header is a PayloadHeader; the data is the block,
// sent eagerly or by rendezvous as UCX chooses. This is the Get path where the endpoint has no
// native RMA lane (TCP; shared memory in UCX 1.13): a rendezvous is received straight into the
// caller's memory, where an emulated put would copy every byte through bounce segments twice.
inline constexpr unsigned kPayloadAmId = 0x4D;
inline constexpr uint32_t kPayloadBufferId = 0;
inline constexpr size_t kPayloadHeaderBytes = 12;
// u64 request id | u32 index of the item in its GetRequest.
struct PayloadHeader {
  uint64_t request_id = 0;
  uint32_t item = 0;
};
std::array<std::byte, kPayloadHeaderBytes> EncodePayloadHeader(const PayloadHeader& h);
// InvalidArgument unless `in` is exactly kPayloadHeaderBytes.
Status DecodePayloadHeader(std::span<const std::byte> in, PayloadHeader* out);

// Put payload messages (client->server, sent with the reply flag): the value of one granted
// Allocate item, in place of a one-sided put, where the endpoint has no native RMA lane. The
// AM header is the u64 arena offset the Allocate granted; the data is the value. The server
// writes it at that offset of the connection's arena (after a bounds check: the same reach a
// put with the arena's rkey has) and processes the connection's next messages, such as the
// Commit, only once every such payload has landed.
inline constexpr unsigned kPutPayloadAmId = 0x4E;
inline constexpr size_t kPutPayloadHeaderBytes = 8;
std::array<std::byte, kPutPayloadHeaderBytes> EncodePutPayloadHeader(uint64_t arena_offset);
// InvalidArgument unless `in` is exactly kPutPayloadHeaderBytes.
Status DecodePutPayloadHeader(std::span<const std::byte> in, uint64_t* arena_offset);

enum class Opcode : uint16_t {
  kHello = 1,
  kAllocate = 2,
  kCommit = 3,
  kAbort = 4,
  kRegisterBuffer = 5,
  kUnregisterBuffer = 6,
  kGet = 7,
  kExists = 8,
  kLongestPrefix = 9,
  kDelete = 10,
  kStats = 11,
  kGoodbye = 12,
};
inline constexpr uint16_t kMaxOpcode = 12;
std::string_view OpcodeName(Opcode op);

// What a decoder accepts. The server's come from ServerOptions; the client learns them from
// HelloReply.
struct Limits {
  uint32_t max_key_bytes = 256;
  uint64_t max_value_bytes = 64ull << 20;
  uint32_t max_batch_keys = 4096;
  uint32_t max_outstanding = 64;
  static constexpr uint32_t kMaxTokenBytes = 256;
  static constexpr uint32_t kMaxRkeyBytes = 16384;
  static constexpr uint32_t kMaxMessageText = 1024;
  static constexpr uint32_t kMaxStatsEntries = 4096;
  static constexpr uint32_t kMaxStatName = 128;
  // Upper bound of any well-formed message under these limits.
  size_t MaxMessageBytes() const;
};

struct Header {
  uint16_t version = kProtocolVersion;
  Opcode opcode = Opcode::kHello;
  bool reply = false;
  uint32_t flags = 0;
  uint64_t request_id = 0;
  uint32_t body_bytes = 0;
};

// ---- Requests ------------------------------------------------------------------------------
struct HelloRequest {
  uint16_t min_version = kProtocolVersion;
  uint16_t max_version = kProtocolVersion;
  uint16_t namespace_id = 0;
  std::string_view token;
};
struct AllocateRequest {
  struct Item {
    std::string_view key;
    uint64_t size = 0;  // 1..max_value_bytes
  };
  std::vector<Item> items;
};
struct CommitRequest {
  struct Item {
    std::string_view key;
    uint64_t offset = 0;
    std::optional<uint64_t> checksum;  // XXH3-64 of the payload
  };
  std::vector<Item> items;
};
struct AbortRequest {
  struct Item {
    std::string_view key;
    uint64_t offset = 0;
  };
  std::vector<Item> items;
};
struct RegisterBufferRequest {
  uint64_t address = 0;
  uint64_t length = 0;
  std::span<const std::byte> rkey;  // ucp_rkey_pack output
};
struct UnregisterBufferRequest {
  uint32_t buffer_id = 0;
};
struct GetRequest {
  struct Item {
    std::string_view key;
    uint32_t buffer_id = 0;  // kPayloadBufferId: send the bytes as a payload message
    uint64_t offset = 0;     // into the registered buffer (0 with kPayloadBufferId)
    uint64_t capacity = 0;   // bytes available there
  };
  std::vector<Item> items;
};
// Exists, LongestPrefix and Delete.
struct KeysRequest {
  std::vector<std::string_view> keys;
};
struct StatsRequest {};
// The client is about to close: the endpoint error that follows is a clean close.
struct GoodbyeRequest {};

// ---- Replies (bodies after the request status) ---------------------------------------------
struct HelloReply {
  uint16_t version = kProtocolVersion;
  uint64_t arena_address = 0;
  uint64_t arena_bytes = 0;
  std::span<const std::byte> arena_rkey;
  Limits limits;
};
struct AllocateReply {
  struct Item {
    StatusCode status = StatusCode::kOk;
    uint64_t offset = 0;    // arena offset when OK
    uint32_t lease_ms = 0;  // time left to commit when OK
  };
  std::vector<Item> items;
};
// Commit, Abort, Delete.
struct StatusListReply {
  std::vector<StatusCode> statuses;
};
struct RegisterBufferReply {
  uint32_t buffer_id = 0;
};
struct EmptyReply {};
struct GetReply {
  struct Item {
    StatusCode status = StatusCode::kOk;
    uint64_t size = 0;  // block size when OK, or when the capacity was too small
  };
  std::vector<Item> items;
};
struct ExistsReply {
  std::vector<bool> present;
};
struct LongestPrefixReply {
  uint32_t count = 0;
};
struct StatsReply {
  std::vector<std::pair<std::string, uint64_t>> entries;
};

// ---- Encoding ------------------------------------------------------------------------------
// A whole message: header + body. REQUIRES: the body respects the limits the peer enforces
// (callers validate first; the encoder does not truncate).
template <typename Body>
std::vector<std::byte> EncodeRequest(Opcode op, uint64_t request_id, const Body& body);
// A reply: `status` OK encodes `body`; otherwise only the status goes out.
template <typename Body>
std::vector<std::byte> EncodeReply(Opcode op, uint64_t request_id, const Status& status,
                                   const Body& body);

// Header of `msg`; checks magic, version, opcode range, flags and that the body length
// matches the bytes that follow.
Status DecodeHeader(std::span<const std::byte> msg, Header* out);

// Decodes a body (the bytes after the header). Rejects trailing bytes.
template <typename Body>
Status DecodeBody(std::span<const std::byte> body, const Limits& limits, Body* out);

// Splits a reply body into the request status and the rest (present when OK).
Status DecodeReplyStatus(std::span<const std::byte> body, Status* request_status,
                         std::span<const std::byte>* rest);

// Maps a wire status byte to a StatusCode; unknown values are rejected.
Status StatusCodeFromWire(uint8_t v, StatusCode* out);

}  // namespace kvstash::net

#endif  // KVSTASH_NET_PROTOCOL_H_
