#include "imagestore/image.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "common/digest.hpp"
#include "common/json_number.hpp"

namespace kuiga::imagestore {

std::string_view toString(Profile p) {
  switch (p) {
    case Profile::RiotNative:
      return "riot-native";
    case Profile::ContikiNative:
      return "contiki-native";
    case Profile::Linux:
      break;
  }
  return "linux";
}

Result<Profile> parseProfile(std::string_view s) {
  if (s == "linux") return Profile::Linux;
  if (s == "riot-native") return Profile::RiotNative;
  if (s == "contiki-native") return Profile::ContikiNative;
  return failMsg(fmt::format("unknown profile '{}' (linux, riot-native or contiki-native)", s));
}

static std::string machineName(uint16_t m) {
  switch (m) {
    case EM_X86_64:
      return "x86_64";
    case EM_386:
      return "i386";
    case EM_AARCH64:
      return "aarch64";
    case EM_ARM:
      return "arm";
    case EM_RISCV:
      return "riscv";
    default:
      return fmt::format("machine {}", m);
  }
}

// The ELF machines this host executes natively (32-bit x86 needs the kernel's ia32 support,
// which every distribution kernel has).
static bool hostRuns(uint16_t m) {
  utsname u{};
  ::uname(&u);
  std::string host = u.machine;
  if (host == "x86_64") return m == EM_X86_64 || m == EM_386;
  if (host == "aarch64") return m == EM_AARCH64 || m == EM_ARM;
  if (host.starts_with("arm")) return m == EM_ARM;
  if (host.starts_with("i") && host.ends_with("86")) return m == EM_386;
  if (host.starts_with("riscv")) return m == EM_RISCV;
  return false;
}

namespace {

// Whether the kernel could load the file: its program headers are in it, it has something to
// load, every loaded segment's bytes are in the file (a truncated upload is not), and the
// interpreter it names is a path this machine has (what a dynamically linked ELF needs, which
// instances see through the host's system directories).
template <class Ehdr, class Phdr>
VoidResult checkLoadable(int fd, uint64_t size) {
  Ehdr eh;
  if (::pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh))
    return failMsg("the AUT has a truncated ELF header");
  if (eh.e_phnum == 0) return failMsg("the AUT has no program headers: nothing to load");
  if (eh.e_phentsize != sizeof(Phdr)) return failMsg("the AUT's program headers are malformed");
  if (eh.e_phoff > size || (size - eh.e_phoff) / sizeof(Phdr) < eh.e_phnum)
    return failMsg("the AUT is truncated: its program headers end past its last byte");
  bool load = false;
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Phdr ph;
    if (::pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) !=
        static_cast<ssize_t>(sizeof ph))
      return failMsg("the AUT's program headers cannot be read");
    const bool inFile = ph.p_offset <= size && ph.p_filesz <= size - ph.p_offset;
    if (ph.p_type == PT_LOAD) {
      load = true;
      if (!inFile)
        return failMsg(fmt::format(
            "the AUT is truncated: a segment ends at byte {}, past its size of {} bytes",
            uint64_t{ph.p_offset} + ph.p_filesz, size));
    }
    if (ph.p_type == PT_INTERP) {
      if (!inFile || ph.p_filesz < 2 || ph.p_filesz > 4096)
        return failMsg("the AUT names no readable interpreter (PT_INTERP)");
      std::string interp(ph.p_filesz, '\0');
      if (::pread(fd, interp.data(), interp.size(), static_cast<off_t>(ph.p_offset)) !=
          static_cast<ssize_t>(interp.size()))
        return failMsg("the AUT's interpreter path cannot be read");
      if (interp.back() != '\0' || interp.find('\0') != interp.size() - 1 || interp[0] != '/')
        return failMsg("the AUT's interpreter path is malformed");
      interp.pop_back();
      if (::access(interp.c_str(), X_OK) != 0)
        return failMsg(fmt::format(
            "the AUT needs the interpreter '{}', which this machine does not have (a 32-bit "
            "AUT needs the 32-bit C library, Debian's libc6-i386, say; or link it statically)",
            interp));
    }
  }
  if (!load) return failMsg("the AUT has no loadable segment (PT_LOAD)");
  return {};
}

}  // namespace

Result<ElfInfo> inspectAut(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failSys("open '" + path + "'");
  unsigned char buf[4096];
  ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  int err = errno;
  struct stat st {};
  if (n < 0 || ::fstat(fd, &st) < 0) {
    ::close(fd);
    return failSys("read '" + path + "'", n < 0 ? err : errno);
  }
  auto info = inspectAutHead({buf, static_cast<size_t>(n)});
  if (info) {
    const auto size = static_cast<uint64_t>(st.st_size);
    auto loadable = info->bits == 64 ? checkLoadable<Elf64_Ehdr, Elf64_Phdr>(fd, size)
                                     : checkLoadable<Elf32_Ehdr, Elf32_Phdr>(fd, size);
    if (!loadable) info = fail(loadable.error());
  }
  ::close(fd);
  return info;
}

Result<ElfInfo> inspectAutHead(std::span<const unsigned char> head) {
  const unsigned char* buf = head.data();
  const size_t n = head.size();
  if (n >= 2 && buf[0] == '#' && buf[1] == '!')
    return failMsg("the AUT is a script, not an ELF executable; upload the program it runs");
  if (n < EI_NIDENT || std::memcmp(buf, ELFMAG, SELFMAG) != 0)
    return failMsg(n == 0 ? "the AUT is empty" : "the AUT is not an ELF executable");
  if (buf[EI_DATA] != ELFDATA2LSB) return failMsg("the AUT is a big-endian ELF");
  ElfInfo info;
  uint16_t type = 0, machine = 0;
  uint64_t entry = 0;
  bool interp = false;
  auto scanPhdrs = [&](auto ehdr, auto phdr) {
    using Ehdr = decltype(ehdr);
    using Phdr = decltype(phdr);
    if (n < sizeof(Ehdr)) return false;
    std::memcpy(&ehdr, buf, sizeof ehdr);
    type = ehdr.e_type;
    machine = ehdr.e_machine;
    entry = ehdr.e_entry;
    // The file says where its program headers are: only those wholly within what was read
    // count (compared without sums, which a huge e_phoff would wrap past the end).
    for (size_t i = 0; i < ehdr.e_phnum; ++i) {
      if (ehdr.e_phoff > n || (n - ehdr.e_phoff) / sizeof(Phdr) <= i) break;
      const size_t off = ehdr.e_phoff + i * sizeof(Phdr);
      std::memcpy(&phdr, buf + off, sizeof phdr);
      if (phdr.p_type == PT_INTERP) interp = true;
    }
    return true;
  };
  bool ok = buf[EI_CLASS] == ELFCLASS64   ? scanPhdrs(Elf64_Ehdr{}, Elf64_Phdr{})
            : buf[EI_CLASS] == ELFCLASS32 ? scanPhdrs(Elf32_Ehdr{}, Elf32_Phdr{})
                                          : false;
  if (!ok) return failMsg("the AUT has a truncated or unknown ELF header");
  info.bits = buf[EI_CLASS] == ELFCLASS64 ? 64 : 32;
  info.machine = machineName(machine);
  info.dynamic = interp;
  if (type == ET_REL) return failMsg("the AUT is an object file (.o), not an executable");
  if (type == ET_CORE) return failMsg("the AUT is a core dump, not an executable");
  if (type != ET_EXEC && type != ET_DYN) return failMsg("the AUT is not an ELF executable");
  if (type == ET_DYN && !interp) {
    // A static PIE has no interpreter either, but it has an entry point; a library has neither
    // an interpreter nor (usually) a meaningful entry. Tell them apart by the entry address.
    if (entry == 0) return failMsg("the AUT is a shared library, not an executable");
  }
  if (!hostRuns(machine))
    return failMsg(
        fmt::format("the AUT is built for {}, which this machine cannot run", info.machine));
  return info;
}

nlohmann::json Manifest::toJson() const {
  return {{"schema", 1},
          {"profile", toString(profile)},
          {"executable", executable},
          {"aut", {{"digest", autDigest}, {"size", autSize}}},
          {"elf", {{"bits", elf.bits}, {"machine", elf.machine}, {"dynamic", elf.dynamic}}},
          {"default_args", defaultArgs},
          {"default_net", defaultNet}};
}

Result<Manifest> Manifest::fromJson(const nlohmann::json& j) {
  try {
    if (wholeNumber<int>(j.at("schema")) != 1) return failMsg("unknown manifest schema");
    Manifest m;
    auto p = parseProfile(j.at("profile").get<std::string>());
    if (!p) return fail(p.error());
    m.profile = *p;
    m.executable = j.at("executable").get<std::string>();
    KUIGA_TRY(checkExecutableName(m.executable), "manifest");
    m.autDigest = j.at("aut").at("digest").get<std::string>();
    // A manifest may come from a shared bucket: what a worker will use as a path or a mode is
    // checked here, not only where it is used.
    if (!isDigest(m.autDigest)) return failMsg("manifest: bad AUT digest '" + m.autDigest + "'");
    auto size = wholeNumber<uint64_t>(j.at("aut").at("size"));
    if (!size) return failMsg("manifest: the AUT's size is not a whole number of bytes");
    m.autSize = *size;
    auto bits = wholeNumber<int>(j.at("elf").at("bits"));
    if (bits != 32 && bits != 64) return failMsg("manifest: ELF bits not 32 or 64");
    m.elf.bits = *bits;
    m.elf.machine = j.at("elf").at("machine").get<std::string>();
    m.elf.dynamic = j.at("elf").at("dynamic").get<bool>();
    m.defaultArgs = j.at("default_args").get<std::string>();
    m.defaultNet = j.at("default_net").get<std::string>();
    if (m.defaultNet != "veth" && m.defaultNet != "tap" && m.defaultNet != "tun" &&
        m.defaultNet != "none")
      return failMsg("manifest: bad default network '" + m.defaultNet + "'");
    return m;
  } catch (const nlohmann::json::exception& e) {
    return failMsg(std::string("malformed manifest: ") + e.what());
  }
}

std::string Manifest::canonical() const {
  return toJson().dump();  // nlohmann orders object keys, so the bytes are canonical
}

Result<std::string> checkExecutableName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..")
    return failMsg("bad executable name '" + name + "'");
  for (unsigned char c : name)
    if (c == '/' || c < 0x21 || c == 0x7f)
      return failMsg("bad executable name '" + name + "': use letters, digits and . _ -");
  return name;
}

}  // namespace kuiga::imagestore
