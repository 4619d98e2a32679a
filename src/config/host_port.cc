#include "config/host_port.h"

#include <charconv>

namespace kvstash {
namespace {

Status Bad(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("bad address '" + std::string(text) + "': " + std::string(why) +
                                 " (expected HOST:PORT, e.g. 127.0.0.1:7400)");
}

}  // namespace

std::string HostPort::ToString() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Bad(text, "no ':PORT'");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.starts_with('[') != host.ends_with(']')) return Bad(text, "unbalanced brackets");
  if (host.starts_with('['))
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return Bad(text, "IPv6 needs [brackets]");
  if (host.empty()) return Bad(text, "empty host");
  if (port.empty()) return Bad(text, "empty port");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Bad(text, "port must be a number in 0..65535");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

}  // namespace kvstash
