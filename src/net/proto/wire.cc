#include "net/proto/wire.h"

#include <fmt/format.h>

namespace kvstash::net {

void WireWriter::Str16(std::string_view s) {
  U16(static_cast<uint16_t>(s.size()));
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  buf_.insert(buf_.end(), p, p + s.size());
}

void WireWriter::Blob32(std::span<const std::byte> b) {
  U32(static_cast<uint32_t>(b.size()));
  Bytes(b);
}

void WireWriter::PatchU32(size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i) buf_[pos + i] = static_cast<std::byte>(v >> (8 * i));
}

Status WireReader::Need(size_t n, std::string_view what) const {
  if (n > remaining()) {
    return Status::InvalidArgument(
        fmt::format("truncated {}: need {} bytes, {} left", what, n, remaining()));
  }
  return Status::Ok();
}

uint64_t WireReader::ReadLe(int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(in_[pos_ + i]) << (8 * i);
  pos_ += n;
  return v;
}

Status WireReader::U8(uint8_t* v) {
  KVSTASH_RETURN_IF_ERROR(Need(1, "u8"));
  *v = static_cast<uint8_t>(ReadLe(1));
  return Status::Ok();
}

Status WireReader::U16(uint16_t* v) {
  KVSTASH_RETURN_IF_ERROR(Need(2, "u16"));
  *v = static_cast<uint16_t>(ReadLe(2));
  return Status::Ok();
}

Status WireReader::U32(uint32_t* v) {
  KVSTASH_RETURN_IF_ERROR(Need(4, "u32"));
  *v = static_cast<uint32_t>(ReadLe(4));
  return Status::Ok();
}

Status WireReader::U64(uint64_t* v) {
  KVSTASH_RETURN_IF_ERROR(Need(8, "u64"));
  *v = ReadLe(8);
  return Status::Ok();
}

Status WireReader::Bytes(std::span<const std::byte>* b, size_t n, std::string_view what) {
  KVSTASH_RETURN_IF_ERROR(Need(n, what));
  *b = in_.subspan(pos_, n);
  pos_ += n;
  return Status::Ok();
}

Status WireReader::Str16(std::string_view* s, uint32_t min_len, uint32_t max_len,
                         std::string_view what) {
  uint16_t len = 0;
  KVSTASH_RETURN_IF_ERROR(U16(&len));
  if (len < min_len || len > max_len) {
    return Status::InvalidArgument(
        fmt::format("{} length {} outside [{}, {}]", what, len, min_len, max_len));
  }
  std::span<const std::byte> b;
  KVSTASH_RETURN_IF_ERROR(Bytes(&b, len, what));
  *s = std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  return Status::Ok();
}

Status WireReader::Blob32(std::span<const std::byte>* b, uint32_t max_len, std::string_view what) {
  uint32_t len = 0;
  KVSTASH_RETURN_IF_ERROR(U32(&len));
  if (len > max_len) {
    return Status::InvalidArgument(fmt::format("{} length {} over {}", what, len, max_len));
  }
  return Bytes(b, len, what);
}

Status WireReader::Count(uint32_t* n, uint32_t min, uint32_t max, size_t min_elem_bytes,
                         std::string_view what) {
  KVSTASH_RETURN_IF_ERROR(U32(n));
  if (*n < min || *n > max) {
    return Status::InvalidArgument(fmt::format("{} count {} outside [{}, {}]", what, *n, min, max));
  }
  if (static_cast<uint64_t>(*n) * min_elem_bytes > remaining()) {
    return Status::InvalidArgument(
        fmt::format("{} count {} cannot fit in {} bytes", what, *n, remaining()));
  }
  return Status::Ok();
}

Status WireReader::ExpectEnd() const {
  if (remaining() != 0) {
    return Status::InvalidArgument(fmt::format("{} trailing bytes", remaining()));
  }
  return Status::Ok();
}

}  // namespace kvstash::net
