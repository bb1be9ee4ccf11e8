#include "imagestore/image_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "sys/file.hpp"

#include "common/digest.hpp"

namespace kuiga::imagestore {

namespace fs = std::filesystem;

static std::string uniqueSuffix() {
  static std::atomic<uint64_t> n{0};
  return fmt::format(".tmp.{}.{}", ::getpid(), n++);
}

// Copies src to a temporary file next to dest, hashing it on the way, and renames it into place
// when its digest is right. Plain read(2) and write(2): their errno is the cause a user needs
// ("No space left on device"), where a kernel copy on tmpfs said only "Input/output error".
static VoidResult copyVerified(const std::string& src, const std::string& dest,
                               const std::string& digest) {
  std::string tmp = dest + uniqueSuffix();
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return failSys("open '" + src + "'");
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return failSys("create '" + tmp + "'", err);
  }
  Sha256 h;
  std::vector<char> buf(1 << 20);
  VoidResult r;
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r = failSys("read '" + src + "'");
      break;
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    if (auto w = sys::writeAll(out, buf.data(), static_cast<size_t>(n)); !w) {
      r = fail(w.error().context(fmt::format("copy '{}' to '{}'", src, tmp)));
      break;
    }
  }
  ::close(in);
  if (::close(out) < 0 && r) r = failSys("write '" + tmp + "'");
  std::error_code ec;
  if (!r) {
    fs::remove(tmp, ec);  // a half-copied blob must not stay (and survive restarts)
    return r;
  }
  if (std::string got = h.finish(); got != digest) {
    fs::remove(tmp, ec);
    return failMsg(fmt::format("blob {} has digest {}: corrupt, refused", digest, got));
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    fs::remove(tmp, ec);
    return failSys("rename '" + tmp + "'", err);
  }
  return {};
}

Result<std::unique_ptr<LocalImageStore>> LocalImageStore::open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "sha256", ec);
  if (ec) return failMsg(fmt::format("create image store '{}': {}", dir, ec.message()));
  // Temporary blobs a killed process left behind.
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "sha256", ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) stale.push_back(e.path());
  for (const auto& p : stale) fs::remove(p, ec);
  return std::unique_ptr<LocalImageStore>(new LocalImageStore(fs::absolute(dir)));
}

std::string LocalImageStore::blobPath(const std::string& digest) const {
  return dir_ + "/sha256/" + digest.substr(7);
}

VoidResult LocalImageStore::put(const std::string& digest, const std::string& srcPath) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  if (fs::exists(blobPath(digest))) return {};
  KUIGA_TRY(copyVerified(srcPath, blobPath(digest), digest), "store blob " + digest);
  return {};
}

Result<bool> LocalImageStore::has(const std::string& digest) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  return fs::exists(blobPath(digest));
}

VoidResult LocalImageStore::fetch(const std::string& digest, const std::string& destPath) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  if (!fs::exists(blobPath(digest))) return failMsg("no blob " + digest + " in " + describe());
  KUIGA_TRY(copyVerified(blobPath(digest), destPath, digest), "fetch blob " + digest);
  return {};
}

Result<BuiltImage> buildImage(ImageStore& store, const std::string& autPath,
                              const std::string& executableName, Profile profile) {
  auto name = checkExecutableName(executableName);
  if (!name) return fail(name.error());
  auto elf = inspectAut(autPath);
  if (!elf) return fail(elf.error());
  if (profile == Profile::RiotNative && elf->machine != "x86_64" && elf->machine != "i386")
    return failMsg("a riot-native AUT is built for native (i386) or native64 (x86_64), not " +
                   elf->machine);
  if (profile == Profile::ContikiNative && elf->machine != "x86_64" && elf->machine != "i386")
    return failMsg(
        "a contiki-native AUT is built for TARGET=native on this machine (x86_64 or "
        "i386), not " +
        elf->machine);
  auto autDigest = sha256File(autPath);
  if (!autDigest) return fail(autDigest.error());
  Manifest m;
  m.profile = profile;
  m.executable = *name;
  m.autDigest = *autDigest;
  m.autSize = fs::file_size(autPath);
  m.elf = *elf;
  m.defaultArgs = profile == Profile::RiotNative      ? "{tap}"
                  : profile == Profile::ContikiNative ? "--prefix {prefix}"
                                                      : "";
  m.defaultNet = profile == Profile::RiotNative      ? "tap"
                 : profile == Profile::ContikiNative ? "tun"
                                                     : "veth";
  KUIGA_TRY(store.put(m.autDigest, autPath), "store the AUT");
  std::string bytes = m.canonical();
  std::string digest = sha256Hex(bytes);
  std::string tmp = (fs::temp_directory_path() / ("kuiga-manifest" + uniqueSuffix())).string();
  {
    std::ofstream out(tmp, std::ios::binary);
    out << bytes;
    if (!out.flush()) return failMsg("write '" + tmp + "'");
  }
  auto r = store.put(digest, tmp);
  std::error_code ec;
  fs::remove(tmp, ec);
  if (!r) return fail(r.error().context("store the manifest"));
  return BuiltImage{digest, m};
}

Result<ImageCache::Local> ImageCache::ensure(const std::string& imageDigest) {
  if (!isDigest(imageDigest)) return failMsg("bad image digest '" + imageDigest + "'");
  // One fetch at a time: a run's thousands of instances share one image.
  static std::mutex fetchMu;
  std::lock_guard lock(fetchMu);
  fs::path root = fs::path(dir_) / imageDigest.substr(7);
  auto load = [&]() -> Result<Local> {
    std::ifstream in(root / "manifest.json");
    std::stringstream ss;
    ss << in.rdbuf();
    if (sha256Hex(ss.str()) != imageDigest)
      return failMsg("cached manifest of " + imageDigest + " does not match its digest");
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    auto m = Manifest::fromJson(j);
    if (!m) return fail(m.error());
    return Local{*m, (root / "app").string()};
  };
  if (fs::exists(root / "manifest.json")) return load();
  std::error_code ec;
  fs::path tmp = fs::path(dir_) / (imageDigest.substr(7) + uniqueSuffix());
  fs::create_directories(tmp / "app", ec);
  if (ec) return failMsg(fmt::format("create '{}': {}", tmp.string(), ec.message()));
  auto cleanup = [&] { fs::remove_all(tmp, ec); };
  if (auto r = source_.fetch(imageDigest, tmp / "manifest.json"); !r)
    return cleanup(), fail(r.error().context("fetch image"));
  std::ifstream in(tmp / "manifest.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = Manifest::fromJson(nlohmann::json::parse(ss.str(), nullptr, false));
  if (!m) return cleanup(), fail(m.error().context("image " + imageDigest));
  fs::path exe = tmp / "app" / m->executable;
  if (auto r = source_.fetch(m->autDigest, exe); !r)
    return cleanup(), fail(r.error().context("fetch the AUT of image " + imageDigest));
  // Instances run as unprivileged users: the tree must be world-readable, the AUT executable.
  ::chmod(tmp.c_str(), 0755);
  ::chmod((tmp / "app").c_str(), 0755);
  ::chmod(exe.c_str(), 0755);
  if (::rename(tmp.c_str(), root.c_str()) != 0 && !fs::exists(root / "manifest.json"))
    return cleanup(), failSys("rename '" + tmp.string() + "'");
  cleanup();
  return load();
}

}  // namespace kuiga::imagestore
