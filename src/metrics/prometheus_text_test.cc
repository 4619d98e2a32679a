#include "metrics/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kvstash {
namespace {

using enum MetricType;

TEST(PrometheusTextTest, RendersFamiliesExactly) {
  std::vector<MetricSample> samples = {
      {"kvstash_blocks", {{"state", "committed"}}, 12, kGauge, "Blocks by state."},
      {"kvstash_hits_total", {{"tier", "dram"}}, 3, kCounter, "Hits."},
      {"kvstash_blocks", {{"state", "allocated"}}, 1, kGauge, ""},
      {"kvstash_uptime_seconds", {}, 1.5, kGauge, ""},
      {"kvstash_hits_total", {{"tier", "flash"}}, 0, kCounter, "ignored: first help wins"},
  };
  auto text = RenderPrometheusText(samples);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text,
            "# HELP kvstash_blocks Blocks by state.\n"
            "# TYPE kvstash_blocks gauge\n"
            "kvstash_blocks{state=\"committed\"} 12\n"
            "kvstash_blocks{state=\"allocated\"} 1\n"
            "# HELP kvstash_hits_total Hits.\n"
            "# TYPE kvstash_hits_total counter\n"
            "kvstash_hits_total{tier=\"dram\"} 3\n"
            "kvstash_hits_total{tier=\"flash\"} 0\n"
            "# TYPE kvstash_uptime_seconds gauge\n"
            "kvstash_uptime_seconds 1.5\n");
}

TEST(PrometheusTextTest, EscapesAndFormatsValues) {
  std::vector<MetricSample> samples = {
      {"m", {{"a", "x\"y\\z\nw"}, {"b", ""}}, 18446744073709551616.0, kCounter, "line\\1\nline2"},
      {"n", {}, NAN, kGauge, ""},
      {"o", {}, INFINITY, kGauge, ""},
      {"p", {}, -INFINITY, kGauge, ""},
      {"q", {}, 1099511627776, kGauge, ""},
      {"r", {}, 3.026749035, kGauge, ""},
      {"s", {}, 0.1, kGauge, ""},
  };
  auto text = RenderPrometheusText(samples);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text,
            "# HELP m line\\\\1\\nline2\n"
            "# TYPE m counter\n"
            "m{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 1.8446744073709552e+19\n"
            "# TYPE n gauge\nn NaN\n"
            "# TYPE o gauge\no +Inf\n"
            "# TYPE p gauge\np -Inf\n"
            "# TYPE q gauge\nq 1099511627776\n"
            "# TYPE r gauge\nr 3.026749035\n"
            "# TYPE s gauge\ns 0.1\n");
}

TEST(PrometheusTextTest, EmptyInputRendersNothing) {
  auto text = RenderPrometheusText({});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "");
}

void ExpectRejected(std::vector<MetricSample> samples, const std::string& needle) {
  auto text = RenderPrometheusText(samples);
  ASSERT_FALSE(text.ok()) << needle;
  EXPECT_NE(text.status().message().find(needle), std::string::npos) << text.status().message();
}

TEST(PrometheusTextTest, RejectsBadInput) {
  ExpectRejected({{"9bad", {}, 1, kGauge, ""}}, "bad metric name '9bad'");
  ExpectRejected({{"kvstash.x", {}, 1, kGauge, ""}}, "bad metric name");
  ExpectRejected({{"ok", {{"bad-label", "v"}}, 1, kGauge, ""}}, "bad label name 'bad-label'");
  ExpectRejected({{"ok", {{"__reserved", "v"}}, 1, kGauge, ""}}, "bad label name");
  ExpectRejected({{"m", {}, 1, kGauge, ""}, {"m", {}, 1, kCounter, ""}},
                 "both a counter and a gauge");
  ExpectRejected({{"m", {{"t", "a"}}, 1, kGauge, ""}, {"m", {{"t", "a"}}, 2, kGauge, ""}},
                 "m{t=\"a\"} appears twice");
}

TEST(PrometheusTextTest, Sanitizes) {
  EXPECT_EQ(SanitizeMetricName("kvstash_server.requests-get"), "kvstash_server_requests_get");
  EXPECT_EQ(SanitizeMetricName("1x"), "_x");
  EXPECT_TRUE(IsValidMetricName("a:b_c1"));
  EXPECT_FALSE(IsValidMetricName(""));
}

}  // namespace
}  // namespace kvstash
