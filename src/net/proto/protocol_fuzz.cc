// libFuzzer target for every wire decoder (KVSTASH_FUZZ=ON with clang).
//
// The first input byte picks the decoder; the rest is fed to DecodeHeader and then to the
// chosen body decoder (as a request body, or as a reply body behind DecodeReplyStatus). Any
// crash, out-of-bounds access (ASan) or hang is a bug: decoders must reject, never trust.
// Seeds: src/net/proto/fuzz_corpus/.
#include <cstddef>
#include <cstdint>
#include <span>

#include "net/proto/protocol.h"

namespace kvstash::net {
namespace {

template <typename Body>
void Decode(std::span<const std::byte> body, bool reply) {
  Limits limits;
  Body out;
  if (reply) {
    Status request_status;
    std::span<const std::byte> rest;
    if (!DecodeReplyStatus(body, &request_status, &rest).ok()) return;
    body = rest;
  }
  (void)DecodeBody(body, limits, &out);
}

void Fuzz(std::span<const std::byte> in) {
  if (in.empty()) return;
  uint8_t which = static_cast<uint8_t>(in[0]);
  auto msg = in.subspan(1);
  Header h;
  if (DecodeHeader(msg, &h).ok()) msg = msg.subspan(kHeaderBytes);
  switch (which % 18) {
    case 0:
      return Decode<HelloRequest>(msg, false);
    case 1:
      return Decode<AllocateRequest>(msg, false);
    case 2:
      return Decode<CommitRequest>(msg, false);
    case 3:
      return Decode<AbortRequest>(msg, false);
    case 4:
      return Decode<RegisterBufferRequest>(msg, false);
    case 5:
      return Decode<UnregisterBufferRequest>(msg, false);
    case 6:
      return Decode<GetRequest>(msg, false);
    case 7:
      return Decode<KeysRequest>(msg, false);
    case 8:
      return Decode<StatsRequest>(msg, false);
    case 9:
      return Decode<HelloReply>(msg, true);
    case 10:
      return Decode<AllocateReply>(msg, true);
    case 11:
      return Decode<StatusListReply>(msg, true);
    case 12:
      return Decode<RegisterBufferReply>(msg, true);
    case 13:
      return Decode<GetReply>(msg, true);
    case 14:
      return Decode<ExistsReply>(msg, true);
    case 15:
      return Decode<LongestPrefixReply>(msg, true);
    case 16:
      return Decode<StatsReply>(msg, true);
    default: {
      PayloadHeader ph;
      (void)DecodePayloadHeader(in.subspan(1), &ph);
      uint64_t offset = 0;
      (void)DecodePutPayloadHeader(in.subspan(1), &offset);
      return;
    }
  }
}

}  // namespace
}  // namespace kvstash::net

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvstash::net::Fuzz(std::span(reinterpret_cast<const std::byte*>(data), size));
  return 0;
}
