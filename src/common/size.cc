#include "common/size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace kvstash {

Result<uint64_t> ParseSize(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string_view number = s.substr(0, i);
  std::string_view unit = s.substr(i);
  if (number.empty() || number.find('.') != number.rfind('.')) {
    return Status::InvalidArgument("bad size '" + std::string(text) + "'");
  }
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.ends_with("ib"))
    u.resize(u.size() - 2);
  else if (u.size() > 1 && u.ends_with("b"))
    u.resize(u.size() - 1);
  int shift;
  if (u.empty() || u == "b")
    shift = 0;
  else if (u == "k")
    shift = 10;
  else if (u == "m")
    shift = 20;
  else if (u == "g")
    shift = 30;
  else if (u == "t")
    shift = 40;
  else
    return Status::InvalidArgument("bad size unit in '" + std::string(text) + "'");
  long double v = std::strtold(std::string(number).c_str(), nullptr);
  long double bytes = std::floor(v * static_cast<long double>(uint64_t{1} << shift));
  if (!(bytes >= 0) || bytes > static_cast<long double>(std::numeric_limits<uint64_t>::max() / 2)) {
    return Status::InvalidArgument("size out of range '" + std::string(text) + "'");
  }
  return static_cast<uint64_t>(bytes);
}

std::string FormatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (v == std::floor(v))
    std::snprintf(buf, sizeof(buf), "%.0f%s", v, kUnits[u]);
  else
    std::snprintf(buf, sizeof(buf), "%.2f%s", v, kUnits[u]);
  return buf;
}

}  // namespace kvstash
