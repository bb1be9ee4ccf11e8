// An AUT's output as the worker reads it, in reads of any size: LogWriter keeps every byte, in
// order, in lines of at most kMaxLine, each behind its receive time. The first byte picks the
// read size; the rest is the output.
#include <unistd.h>

#include <string>
#include <string_view>

#include "fuzz/fuzz.hpp"
#include "sys/file.hpp"
#include "worker/log_writer.hpp"

using kuiga::worker::LogWriter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = "/tmp/kuiga-fuzz-log-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  const size_t read = 1 + data[0] * 37u;  // 1 to 9,436 bytes a read
  std::string_view out(reinterpret_cast<const char*>(data + 1), size - 1);
  const int64_t t = 1'764'000'000'123'456'789;
  const std::string stamp = kuiga::worker::formatTimestamp(t) + " ";
  {
    LogWriter w(path, uint64_t{1} << 30);
    for (size_t at = 0; at < out.size(); at += read) FUZZ_CHECK(w.append(out.substr(at, read), t));
    FUZZ_CHECK(w.finish(t));
  }
  auto text = kuiga::sys::readFile(path);
  ::unlink(path.c_str());
  if (out.empty()) return 0;
  FUZZ_CHECK(text);
  std::string kept, expected;
  for (size_t at = 0, nl; at < text->size(); at = nl + 1) {
    nl = text->find('\n', at);
    FUZZ_CHECK(nl != std::string::npos);  // every line ends
    std::string_view line(text->data() + at, nl - at);
    FUZZ_CHECK(line.substr(0, stamp.size()) == stamp);
    FUZZ_CHECK(line.size() - stamp.size() <= LogWriter::kMaxLine);
    kept.append(line.substr(stamp.size()));
  }
  for (char c : out)
    if (c != '\n') expected += c;
  FUZZ_CHECK(kept == expected);  // nothing lost, nothing added, in order
  return 0;
}
