#include "worker/docker/image_builder.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "common/digest.hpp"

namespace kuiga::worker::docker {

namespace fs = std::filesystem;

Result<std::vector<std::string>> sharedLibraries(const std::string& executable) {
  if (executable.find('\'') != std::string::npos)
    return failMsg("path with a quote: '" + executable + "'");
  // ldd asks the program's own loader to list what it would map (LD_TRACE_LOADED_OBJECTS);
  // the program itself does not run.
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(("ldd '" + executable + "' 2>&1").c_str(), "r"),
                                          ::pclose);
  if (!p) return failSys("run ldd");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  int status = ::pclose(p.release());
  std::vector<std::string> libs;
  if (out.find("not a dynamic executable") != std::string::npos ||
      out.find("statically linked") != std::string::npos)
    return libs;
  if (status != 0) return failMsg("ldd '" + executable + "': " + out);
  std::istringstream lines(out);
  std::string line;
  std::set<std::string> seen;
  while (std::getline(lines, line)) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2
    // (0x...)", "linux-vdso.so.1 (0x...)", "libx.so => not found"
    if (line.find("=> not found") != std::string::npos) {
      auto name = line.substr(0, line.find("=>"));
      name.erase(0, name.find_first_not_of(" \t"));
      name.erase(name.find_last_not_of(" \t") + 1);
      return failMsg(fmt::format("'{}' needs {}, which this worker does not have",
                                 fs::path(executable).filename().string(), name));
    }
    auto arrow = line.find("=> ");
    std::string path = arrow != std::string::npos ? line.substr(arrow + 3) : line;
    path.erase(0, path.find_first_not_of(" \t"));
    path = path.substr(0, path.find(" ("));
    if (path.empty() || path[0] != '/') continue;  // the vDSO
    if (seen.insert(path).second) libs.push_back(path);
  }
  return libs;
}

namespace {

struct ArchiveWriter {
  archive* a = archive_write_new();
  ~ArchiveWriter() { archive_write_free(a); }
};

VoidResult addBytes(archive* a, const std::string& name, const std::string& data, int mode) {
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                             archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), mode);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    return failMsg(fmt::format("tar '{}': {}", name, archive_error_string(a)));
  if (archive_write_data(a, data.data(), data.size()) < 0)
    return failMsg(fmt::format("tar '{}': {}", name, archive_error_string(a)));
  return {};
}

VoidResult addDir(archive* a, const std::string& name, int mode) {
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                             archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFDIR);
  archive_entry_set_perm(e.get(), mode);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    return failMsg(fmt::format("tar '{}': {}", name, archive_error_string(a)));
  return {};
}

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return failSys("read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<BuiltImage> ensureImage(const Engine& engine, const std::string& appDir,
                               const std::string& executable, const std::string& gatePath,
                               const std::string& workDir) {
  std::string aut = appDir + "/" + executable;
  auto autDigest = sha256File(aut);
  if (!autDigest) return fail(autDigest.error());
  auto gateDigest = sha256File(gatePath);
  if (!gateDigest) return fail(gateDigest.error().context("kuiga-gate"));
  BuiltImage img;
  img.tag = fmt::format("kuiga-aut:{}-{}", autDigest->substr(7, 32), gateDigest->substr(7, 12));
  auto have = engine.call("GET", "/images/" + queryEscape(img.tag) + "/json");
  if (!have) return fail(have.error());
  if (have->status == 200) return img;
  if (have->status != 404) return fail(engineError("inspect image " + img.tag, *have));

  auto libs = sharedLibraries(aut);
  if (!libs) return fail(libs.error());
  std::error_code ec;
  fs::create_directories(workDir, ec);
  std::string context = fmt::format("{}/context-{}.tar", workDir, ::getpid());
  {
    ArchiveWriter w;
    archive_write_set_format_pax_restricted(w.a);
    if (archive_write_open_filename(w.a, context.c_str()) != ARCHIVE_OK)
      return failMsg(fmt::format("create '{}': {}", context, archive_error_string(w.a)));
    KUIGA_TRY(addBytes(w.a, "Dockerfile",
                       "FROM scratch\nCOPY rootfs/ /\nLABEL kuiga.aut=" + *autDigest + "\n", 0644),
              "build context");
    for (const char* d : {"rootfs/", "rootfs/app/", "rootfs/kuiga/", "rootfs/work/", "rootfs/run/"})
      KUIGA_TRY(addDir(w.a, d, 0755), "build context");
    KUIGA_TRY(addDir(w.a, "rootfs/tmp/", 01777), "build context");
    auto exe = slurp(aut);
    if (!exe) return fail(exe.error());
    KUIGA_TRY(addBytes(w.a, "rootfs/app/" + executable, *exe, 0755), "build context");
    auto gate = slurp(gatePath);
    if (!gate) return fail(gate.error());
    KUIGA_TRY(addBytes(w.a, "rootfs/kuiga/gate", *gate, 0755), "build context");
    for (const auto& lib : *libs) {
      auto bytes = slurp(lib);  // follows symlinks: the image holds the file itself
      if (!bytes) return fail(bytes.error());
      KUIGA_TRY(addBytes(w.a, "rootfs" + lib, *bytes, 0755), "build context");
    }
    if (archive_write_close(w.a) != ARCHIVE_OK)
      return failMsg(fmt::format("write '{}': {}", context, archive_error_string(w.a)));
  }
  auto built = engine.postFile("/build?t=" + queryEscape(img.tag) + "&rm=1&forcerm=1&labels=" +
                                   queryEscape(nlohmann::json{{"kuiga.aut", *autDigest}}.dump()),
                               context, "application/x-tar");
  fs::remove(context, ec);
  if (!built) return fail(built.error().context("build image " + img.tag));
  if (built->status != 200) return fail(engineError("build image " + img.tag, *built));
  // The answer is a stream of JSON messages; a failed step says so in one of them.
  std::istringstream msgs(built->body);
  std::string line;
  while (std::getline(msgs, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("error"))
      return failMsg("build image " + img.tag + ": " + j["error"].dump());
  }
  img.built = true;
  return img;
}

}  // namespace kuiga::worker::docker
