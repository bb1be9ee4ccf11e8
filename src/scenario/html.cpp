// report.html: the results and what the run measured as JSON, drawn in the browser by Kuiga
// Web's own chart code (src/web/ui/report.js, bundled by esbuild with Chart.js) and styled by
// its style.css, both inlined from the assets compiled into the binary, so the file opens
// anywhere with nothing beside it.
#include <cmath>

#include <fmt/format.h>

#include "scenario/scenario.hpp"
#include "web/web_assets.hpp"

namespace kuiga::scenario {

namespace {

using json = nlohmann::json;

// Text inside a <script> or <style> element must not close it.
std::string inert(std::string_view text, std::string_view tag) {
  std::string out(text);
  const std::string close = "</" + std::string(tag);
  for (size_t at = out.find(close); at != std::string::npos; at = out.find(close, at + 2))
    out.replace(at, 2, "<\\/");
  return out;
}

// The data carries what AUTs printed (log tails) and the scenario's text: every '<' is
// escaped (\u003c, the same string to JSON.parse), so that no case of "</script" or "<!--"
// can end the element or inject markup.
std::string jsonInHtml(const json& data) {
  std::string out;
  for (char c : data.dump()) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

json pointJson(const Report& r) {
  json values = json::array();
  for (const auto& o : r.outcomes) values.push_back(std::isnan(o.value) ? json() : json(o.value));
  json tails = json::object();
  for (const auto& [index, text] : r.tails) tails[std::to_string(index)] = text;
  return {{"results", resultsJson(r)},
          {"samples", r.samples},
          {"jitter", r.jitter},
          {"tails", tails},
          {"values", values}};
}

std::string asset(std::string_view path) {
  const auto* a = web::findAsset(path);
  return a ? std::string(a->data) : std::string();
}

}  // namespace

std::string reportHtml(const std::vector<Report>& points, bool sweep) {
  json each = json::array();
  for (const auto& r : points) each.push_back(pointJson(r));
  json data = {{"kind", sweep ? "sweep" : "test"},
               {"results", sweep ? sweepJson(points) : resultsJson(points.front())},
               {"points", each},
               {"scenario", points.front().scenario->source}};
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Kuiga Box test report</title>\n<style>\n{}\npre {{ white-space: pre-wrap; "
      "font-size: 12px; }} .muted {{ color: var(--muted); }}\n</style>\n</head>\n<body>\n"
      "<header><span class=\"brand\">Kuiga Box</span><span>test report</span></header>\n"
      "<main id=\"report\"></main>\n"
      "<script type=\"application/json\" id=\"kuiga-report\">{}</script>\n"
      "<script>{}</script>\n</body>\n</html>\n",
      inert(asset("/style.css"), "style"), jsonInHtml(data), inert(asset("/report.js"), "script"));
}

}  // namespace kuiga::scenario
