#pragma once
// Runnable images: a base profile, the AUT and a launch manifest, content-addressed by SHA-256
// like an OCI image. The AUT is one blob, the manifest (canonical JSON naming the AUT's digest)
// is another, and the image's digest is the manifest's. The same AUT under the same profile
// therefore always yields the same image, and is stored once.
#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::imagestore {

// The base-image profiles: what an instance of the image needs from the worker.
enum class Profile : uint8_t {
  Linux,       // any Linux executable for this machine; veth networking by default
  RiotNative,  // a RIOT native/native64 ELF: tap networking, "{tap}" as its argument
  // A Contiki-NG native ELF: tun networking (tun0), "--prefix {prefix}" as its argument.
  ContikiNative,
};
std::string_view toString(Profile p);
Result<Profile> parseProfile(std::string_view s);

struct ElfInfo {
  int bits = 64;         // 32 or 64
  std::string machine;   // "x86_64", "i386", "aarch64", ...
  bool dynamic = false;  // has a program interpreter
};
// Checks that `path` is an ELF executable this machine can run; anything else is refused with a
// message saying what it is instead (a script, a shared object, another architecture, ...).
Result<ElfInfo> inspectAut(const std::string& path);
// The same, on the file's first bytes (inspectAut reads 4 KiB: the ELF header and the program
// headers that follow it in every linker's output).
Result<ElfInfo> inspectAutHead(std::span<const unsigned char> head);

struct Manifest {
  Profile profile = Profile::Linux;
  std::string executable;  // file name the AUT gets under /app
  std::string autDigest;   // blob digest of the AUT
  uint64_t autSize = 0;
  ElfInfo elf;
  std::string defaultArgs;  // argument template used when a run gives none
  std::string defaultNet;   // "veth", "tap" or "none"

  nlohmann::json toJson() const;
  static Result<Manifest> fromJson(const nlohmann::json& j);
  // The canonical bytes whose digest is the image's digest.
  std::string canonical() const;
};

// A valid file name for /app/<name>: no slashes, not "." or "..", printable, at most 128 bytes.
Result<std::string> checkExecutableName(const std::string& name);

}  // namespace kuiga::imagestore
