#include "client/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace kuiga::client {

namespace fs = std::filesystem;

Result<ClientConfig> readConfig(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return failMsg(fmt::format("cannot read the client config '{}'", path));
  } catch (const YAML::Exception& e) {
    return failMsg(fmt::format("{}: line {}: {}", path, e.mark.line + 1, e.msg));
  }
  if (!root.IsMap()) return failMsg(path + ": not a map of master, token and ca");
  ClientConfig c;
  c.source = path;
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>("");
    if (!kv.second.IsScalar())
      return failMsg(
          fmt::format("{}: line {}: '{}' is a string", path, kv.second.Mark().line + 1, key));
    std::string value = kv.second.as<std::string>();
    if (key == "master")
      c.master = value;
    else if (key == "token")
      c.token = value;
    else if (key == "ca")
      c.caPem = value;
    else
      return failMsg(fmt::format("{}: line {}: unknown key '{}' (master, token, ca)", path,
                                 kv.first.Mark().line + 1, key));
  }
  return c;
}

VoidResult writeConfig(const std::string& path, const ClientConfig& c) {
  YAML::Emitter out;
  out << YAML::Comment("Kuiga Box client configuration: the master, a token, the CA it trusts");
  out << YAML::BeginMap;
  out << YAML::Key << "master" << YAML::Value << c.master;
  out << YAML::Key << "token" << YAML::Value << c.token;
  if (!c.caPem.empty()) out << YAML::Key << "ca" << YAML::Value << YAML::Literal << c.caPem;
  out << YAML::EndMap;
  std::error_code ec;
  if (auto dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir, ec);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return failSys("write " + tmp);
  std::string text = std::string(out.c_str()) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    fs::remove(tmp, ec);
    errno = err;
    return failSys("write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) return failSys("rename to " + path);
  return {};
}

std::string userConfigPath() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/kuiga/config";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/kuiga/config";
  return {};
}

Result<ClientConfig> resolveConfig(const Overrides& o) {
  ClientConfig c;
  std::string file = o.configFile;
  bool named = !file.empty();
  if (!named)
    if (const char* e = std::getenv("KUIGA_CONFIG"); e && *e) file = e, named = true;
  if (!named) file = userConfigPath();
  if (!file.empty() && (named || fs::exists(file))) {
    auto read = readConfig(file);
    if (!read) return read;
    c = *read;
  }
  if (const char* e = std::getenv("KUIGA_MASTER"); e && *e) c.master = e;
  if (const char* e = std::getenv("KUIGA_TOKEN"); e && *e) c.token = e;
  if (!o.master.empty()) c.master = o.master;
  if (!o.token.empty()) c.token = o.token;
  if (c.master.empty()) c.master = "http://127.0.0.1:8750";
  return c;
}

}  // namespace kuiga::client
