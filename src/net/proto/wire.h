// Little-endian byte encoding for the wire protocol (docs/PROTOCOL.md).
//
// Every field is written and read one byte at a time through explicit shifts: no struct
// memcpy, no host-endianness assumption, no unaligned access. WireReader checks every length
// against what remains before it reads, so a truncated or lying message is an error, never an
// out-of-bounds read.
//
// Thread safety: none; one reader/writer per thread.
#ifndef KVSTASH_NET_WIRE_H_
#define KVSTASH_NET_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kvstash/status.h"

namespace kvstash::net {

// Appends little-endian fields to a byte vector it owns.
class WireWriter {
 public:
  WireWriter() = default;
  explicit WireWriter(size_t reserve) { buf_.reserve(reserve); }

  void U8(uint8_t v) { buf_.push_back(static_cast<std::byte>(v)); }
  void U16(uint16_t v) { AppendLe(v, 2); }
  void U32(uint32_t v) { AppendLe(v, 4); }
  void U64(uint64_t v) { AppendLe(v, 8); }
  // Raw bytes, no length prefix.
  void Bytes(std::span<const std::byte> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  // u16 length + bytes. REQUIRES: s.size() <= 65535 (callers validate limits first).
  void Str16(std::string_view s);
  // u32 length + bytes.
  void Blob32(std::span<const std::byte> b);
  // Overwrites 4 bytes at `pos` (for lengths known only at the end).
  void PatchU32(size_t pos, uint32_t v);

  size_t size() const { return buf_.size(); }
  std::vector<std::byte>& buffer() { return buf_; }
  std::vector<std::byte> Take() { return std::move(buf_); }

 private:
  void AppendLe(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<std::byte>(v >> (8 * i)));
  }
  std::vector<std::byte> buf_;
};

// Reads little-endian fields from a borrowed span. Each read fails with InvalidArgument
// ("truncated ...") instead of reading past the end; views returned by Str16/Blob32 borrow
// the input and live as long as it does.
class WireReader {
 public:
  explicit WireReader(std::span<const std::byte> in) : in_(in) {}

  Status U8(uint8_t* v);
  Status U16(uint16_t* v);
  Status U32(uint32_t* v);
  Status U64(uint64_t* v);
  // u16 length (checked against [min_len, max_len]) + bytes.
  Status Str16(std::string_view* s, uint32_t min_len, uint32_t max_len, std::string_view what);
  // u32 length (checked against max_len) + bytes.
  Status Blob32(std::span<const std::byte>* b, uint32_t max_len, std::string_view what);
  // `n` raw bytes.
  Status Bytes(std::span<const std::byte>* b, size_t n, std::string_view what);
  // A u32 element count in [min, max] whose elements need at least `min_elem_bytes` each:
  // rejects counts that cannot fit in what remains before anything is allocated for them.
  Status Count(uint32_t* n, uint32_t min, uint32_t max, size_t min_elem_bytes,
               std::string_view what);

  size_t remaining() const { return in_.size() - pos_; }
  // InvalidArgument if bytes are left over.
  Status ExpectEnd() const;

 private:
  Status Need(size_t n, std::string_view what) const;
  uint64_t ReadLe(int n);
  std::span<const std::byte> in_;
  size_t pos_ = 0;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_WIRE_H_
