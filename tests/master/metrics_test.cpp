#include "master/metrics.hpp"

#include <gtest/gtest.h>

namespace kuiga::master {
namespace {

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Histogram h({0.1, 1});
  for (double v : {0.05, 0.1, 0.5, 3.0}) h.observe(v);
  std::string out;
  h.render(out, "x_seconds", "a=\"b\"");
  EXPECT_EQ(out,
            "x_seconds_bucket{a=\"b\",le=\"0.1\"} 2\n"
            "x_seconds_bucket{a=\"b\",le=\"1\"} 3\n"
            "x_seconds_bucket{a=\"b\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{a=\"b\"} 3.65\n"
            "x_seconds_count{a=\"b\"} 4\n");
}

TEST(Metrics, RendersEveryFamilyWithHelpAndType) {
  Metrics m;
  m.request("GET", "/api/v1/runs/{id}", 200, 0.002);
  m.request("GET", "/api/v1/runs/{id}", 200, 0.004);
  m.request("POST", "/api/v1/runs", 400, 0.001);
  m.request("FROBNICATE", "/api/v1/runs", 400, 0.001);
  m.request("XYZZY", "/api/v1/runs", 400, 0.001);
  m.instance(Metrics::Phase::Start, 1.5);
  Metrics::Gauges g;
  g.runsByState["running"] = 2;
  g.instancesByState["running"] = 10;
  g.workers.push_back({"w\"1", true, 100, 10, 3});
  std::string text = m.render(g);
  for (const char* family :
       {"kuiga_runs", "kuiga_instances", "kuiga_worker_up", "kuiga_worker_capacity_instances",
        "kuiga_worker_instances", "kuiga_worker_zep_unplaceable_datagrams_total",
        "kuiga_instance_create_seconds", "kuiga_instance_start_seconds",
        "kuiga_instance_stop_seconds", "kuiga_http_requests_total",
        "kuiga_http_request_duration_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(text.find("kuiga_runs{state=\"running\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kuiga_worker_up{worker=\"w\\\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kuiga_worker_zep_unplaceable_datagrams_total{worker=\"w\\\"1\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "kuiga_http_requests_total{method=\"GET\",route=\"/api/v1/runs/{id}\",code=\"200\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("kuiga_instance_start_seconds_count 1\n"), std::string::npos) << text;
  // Methods no route has are one series.
  EXPECT_NE(
      text.find(
          "kuiga_http_requests_total{method=\"other\",route=\"/api/v1/runs\",code=\"400\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("FROBNICATE"), std::string::npos);
  // Without a radio run there are no Plexer or ZEP run families at all.
  EXPECT_EQ(text.find("kuiga_plexer_"), std::string::npos) << text;
  EXPECT_EQ(text.find("kuiga_zep_"), std::string::npos) << text;
}

TEST(Metrics, PlexerCountersArePerRunWithDropsByCause) {
  Metrics m;
  Metrics::Gauges g;
  Metrics::Gauges::Radio r;
  r.run = 7;
  r.sent = 100;
  r.uplink = 60;
  r.leases = 2;
  r.dropped = {{"loss", 30}, {"no_ue", 10}};
  g.radios.push_back(r);
  std::string text = m.render(g);
  EXPECT_NE(text.find("# TYPE kuiga_plexer_sent_frames_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE kuiga_plexer_ue_leases gauge\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_plexer_sent_frames_total{run=\"7\"} 100\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("kuiga_plexer_uplink_frames_total{run=\"7\"} 60\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_plexer_ue_leases{run=\"7\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_plexer_dropped_frames_total{run=\"7\",cause=\"loss\"} 30\n"),
            std::string::npos);
  EXPECT_NE(text.find("kuiga_plexer_dropped_frames_total{run=\"7\",cause=\"no_ue\"} 10\n"),
            std::string::npos);
  EXPECT_EQ(text.find("kuiga_zep_"), std::string::npos) << "run 7 has no ZEP radio";
}

TEST(Metrics, ZepCountersArePerRunThatHasAZepRadio) {
  Metrics m;
  Metrics::Gauges g;
  Metrics::Gauges::Radio plain, zep;
  plain.run = 3;
  zep.run = 9;
  zep.zep = {{"sent", 40},           {"received", 70},     {"dropped_channel", 1},
             {"no_listener", 2},     {"lost_on_links", 5}, {"unreachable", 0},
             {"send_errors", 0},     {"malformed", 4},     {"acks", 30},
             {"retransmissions", 6}, {"hellos", 2}};
  g.radios = {plain, zep};
  std::string text = m.render(g);
  for (const char* family : {"kuiga_zep_sent_frames_total", "kuiga_zep_received_frames_total",
                             "kuiga_zep_malformed_datagrams_total", "kuiga_zep_lost_total",
                             "kuiga_zep_acked_frames_total", "kuiga_zep_retransmitted_frames_total",
                             "kuiga_zep_hellos_total"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " counter\n"), std::string::npos)
        << family;
    auto first = text.find(std::string("# HELP ") + family + " ");
    EXPECT_NE(first, std::string::npos) << family;
    EXPECT_EQ(text.find(std::string("# HELP ") + family + " ", first + 1), std::string::npos)
        << "one header per family: " << family;
  }
  EXPECT_NE(text.find("kuiga_zep_sent_frames_total{run=\"9\"} 40\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kuiga_zep_received_frames_total{run=\"9\"} 70\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_zep_malformed_datagrams_total{run=\"9\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_zep_acked_frames_total{run=\"9\"} 30\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_zep_retransmitted_frames_total{run=\"9\"} 6\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_zep_hellos_total{run=\"9\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kuiga_zep_lost_total{run=\"9\",cause=\"lost_on_links\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("kuiga_zep_lost_total{run=\"9\",cause=\"no_listener\"} 2\n"),
            std::string::npos);
  EXPECT_EQ(text.find("kuiga_zep_sent_frames_total{run=\"3\"}"), std::string::npos)
      << "run 3 has no ZEP radio";
}

}  // namespace
}  // namespace kuiga::master
