#include "metrics/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace kvstash {
namespace {

bool IsNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (allow_colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    // The shortest of 15..17 significant digits that reads back as the same double.
    for (int digits = 15; digits <= 17; ++digits) {
      std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
  }
  return buf;
}

std::string LabelText(const MetricSample& s) {
  if (s.labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < s.labels.size(); ++i) {
    if (i > 0) out += ',';
    out += s.labels[i].first + "=\"" + Escape(s.labels[i].second, true) + "\"";
  }
  return out + "}";
}

Status CheckSample(const MetricSample& s) {
  if (!IsValidName(s.name, true)) {
    return Status::InvalidArgument("bad metric name '" + s.name + "'");
  }
  for (const auto& [label, value] : s.labels) {
    if (!IsValidName(label, false) || label.starts_with("__")) {
      return Status::InvalidArgument("metric " + s.name + ": bad label name '" + label + "'");
    }
  }
  return Status::Ok();
}

struct Family {
  MetricType type;
  std::string help;
  std::vector<const MetricSample*> samples;
};

}  // namespace

bool IsValidMetricName(std::string_view name) { return IsValidName(name, true); }

std::string SanitizeMetricName(std::string_view name) {
  std::string out(name);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!IsNameChar(out[i], i == 0, true)) out[i] = '_';
  }
  return out.empty() ? "_" : out;
}

Result<std::string> RenderPrometheusText(std::span<const MetricSample> samples) {
  std::vector<std::string> order;
  std::map<std::string, Family> families;
  std::set<std::string> series;
  for (const MetricSample& s : samples) {
    KVSTASH_RETURN_IF_ERROR(CheckSample(s));
    auto [it, inserted] = families.try_emplace(s.name, Family{s.type, s.help, {}});
    if (inserted) order.push_back(s.name);
    Family& f = it->second;
    if (f.type != s.type) {
      return Status::InvalidArgument("metric " + s.name + " is both a counter and a gauge");
    }
    if (f.help.empty()) f.help = s.help;
    if (!series.insert(s.name + LabelText(s)).second) {
      return Status::InvalidArgument("metric " + s.name + LabelText(s) + " appears twice");
    }
    f.samples.push_back(&s);
  }
  std::string out;
  for (const std::string& name : order) {
    const Family& f = families.at(name);
    if (!f.help.empty()) out += "# HELP " + name + " " + Escape(f.help, false) + "\n";
    out += "# TYPE " + name + (f.type == MetricType::kCounter ? " counter\n" : " gauge\n");
    for (const MetricSample* s : f.samples) {
      out += name + LabelText(*s) + " " + FormatValue(s->value) + "\n";
    }
  }
  return out;
}

}  // namespace kvstash
