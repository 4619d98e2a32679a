// HostPort: a listen or connect address, "host:port" or "[v6addr]:port".
//
// Thread safety: a plain value.
#ifndef KVSTASH_CONFIG_HOST_PORT_H_
#define KVSTASH_CONFIG_HOST_PORT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kvstash/status.h"

namespace kvstash {

struct HostPort {
  std::string host;   // name or address, without brackets for IPv6
  uint16_t port = 0;  // 0 asks the OS for a free port (listeners only)

  // "127.0.0.1:7400", "[::1]:7400".
  std::string ToString() const;
};

// Parses "host:port". Errors (InvalidArgument, naming the text): no colon, empty host, port
// not a decimal number in 0..65535, unbalanced brackets.
Result<HostPort> ParseHostPort(std::string_view text);

}  // namespace kvstash

#endif  // KVSTASH_CONFIG_HOST_PORT_H_
