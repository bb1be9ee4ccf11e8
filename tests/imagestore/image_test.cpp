#include <elf.h>
#include <sys/stat.h>

#include <cstring>
#include <functional>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/digest.hpp"
#include "imagestore/image_store.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::imagestore {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string writeFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
  return path;
}

TEST(Digest, KnownVector) {
  EXPECT_EQ(sha256Hex("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(isDigest(sha256Hex("")));
  EXPECT_FALSE(isDigest("sha256:../../etc/passwd"));
  EXPECT_FALSE(isDigest("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
}

TEST(InspectAut, AcceptsTheExamples) {
  auto info = inspectAut(test::sampleAut());
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->bits, 64);
  EXPECT_EQ(info->machine, "x86_64");
}

TEST(InspectAut, RefusesWhatIsNotAnExecutable) {
  TempDir d;
  struct Case {
    std::string data, expect;
  };
  std::string elfObject =
      "\x7f"
      "ELF";
  elfObject += std::string("\x02\x01\x01", 3) + std::string(9, '\0');
  elfObject += std::string("\x01\x00\x3e\x00", 4);  // ET_REL, x86_64
  elfObject += std::string(64, '\0');
  for (const auto& c :
       {Case{"", "empty"}, Case{"#!/bin/sh\necho hi\n", "script"},
        Case{"hello world, not a program", "not an ELF"}, Case{elfObject, "object file"}}) {
    auto p = writeFile(d.path() + "/aut", c.data);
    auto r = inspectAut(p);
    ASSERT_FALSE(r) << c.expect;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
}

// The tester's 100-byte truncated ELF was accepted as an image. What the kernel could not load
// is refused at upload, with the reason.
TEST(InspectAut, RefusesWhatTheKernelCouldNotLoad) {
  TempDir d;
  std::ifstream in(test::sampleAut(), std::ios::binary);
  const std::string elf((std::istreambuf_iterator<char>(in)), {});
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  auto patched = [&](uint32_t fromType, const std::function<void(std::string&, Elf64_Phdr&)>& fn) {
    std::string out = elf;
    for (size_t i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph;
      std::memcpy(&ph, out.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
      if (ph.p_type != fromType) continue;
      fn(out, ph);
      std::memcpy(out.data() + eh.e_phoff + i * sizeof ph, &ph, sizeof ph);
    }
    return out;
  };
  struct Case {
    std::string data, expect;
  };
  std::string noLoad = patched(PT_LOAD, [](std::string&, Elf64_Phdr& ph) { ph.p_type = PT_NULL; });
  std::string noInterp = patched(PT_INTERP, [](std::string& out, Elf64_Phdr& ph) {
    std::string path = "/lib64/ld-nowhere.so.2";
    path.resize(ph.p_filesz - 1, 'x');
    std::memcpy(out.data() + ph.p_offset, path.c_str(), ph.p_filesz);
  });
  for (const auto& c : {Case{elf.substr(0, 100), "truncated"},
                        Case{elf.substr(0, elf.size() / 2), "truncated: a segment ends"},
                        Case{noLoad, "no loadable segment"},
                        Case{noInterp, "needs the interpreter '/lib64/ld-nowhere.so.2"}}) {
    auto r = inspectAut(writeFile(d.path() + "/aut", c.data));
    ASSERT_FALSE(r) << c.expect;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(inspectAut(writeFile(d.path() + "/whole", elf)));
}

TEST(InspectAut, RefusesAnotherArchitecture) {
  TempDir d;
  std::string data =
      "\x7f"
      "ELF";
  data += std::string("\x02\x01\x01", 3) + std::string(9, '\0');
  data += std::string("\x02\x00\xb7\x00", 4);  // ET_EXEC, aarch64
  data += std::string(64, '\0');
  auto r = inspectAut(writeFile(d.path() + "/aut", data));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("aarch64"), std::string::npos) << r.error().message;
}

TEST(Manifest, RefusesWhatAWorkerWouldUseAsAPathOrAMode) {
  TempDir d;
  auto store = LocalImageStore::open(d.path() + "/store");
  ASSERT_TRUE(store);
  auto img = buildImage(**store, test::sampleAut(), "periodic", Profile::Linux);
  ASSERT_TRUE(img) << img.error().message;
  auto j = img->manifest.toJson();
  ASSERT_TRUE(Manifest::fromJson(j));
  auto bad = j;
  bad["aut"]["digest"] = "sha256:../../etc/shadow";
  auto r = Manifest::fromJson(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad AUT digest"), std::string::npos) << r.error().message;
  bad = j;
  bad["default_net"] = "host";
  EXPECT_FALSE(Manifest::fromJson(bad));
  bad = j;
  bad["elf"]["bits"] = 16;
  EXPECT_FALSE(Manifest::fromJson(bad));
  bad = j;
  bad["aut"]["size"] = -1;
  r = Manifest::fromJson(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("whole number"), std::string::npos) << r.error().message;
  bad = j;
  bad["schema"] = 5e114;  // out of int's range: refused, not undefined behaviour
  EXPECT_FALSE(Manifest::fromJson(bad));
  bad = j;
  bad["executable"] = "../periodic";
  EXPECT_FALSE(Manifest::fromJson(bad));
}

TEST(LocalImageStore, StoresOnceAndRefusesCorruptBlobs) {
  TempDir d;
  auto store = LocalImageStore::open(d.path() + "/store");
  ASSERT_TRUE(store);
  auto a = buildImage(**store, test::sampleAut(), "periodic", Profile::Linux);
  ASSERT_TRUE(a) << a.error().message;
  auto b = buildImage(**store, test::sampleAut(), "periodic", Profile::Linux);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->digest, b->digest);  // same AUT, same image
  size_t blobs = 0;
  for (auto& e : fs::directory_iterator(d.path() + "/store/sha256")) blobs += e.is_regular_file();
  EXPECT_EQ(blobs, 2u);  // the AUT and the manifest
  auto riot = buildImage(**store, test::sampleAut(), "periodic", Profile::RiotNative);
  ASSERT_TRUE(riot);
  EXPECT_NE(riot->digest, a->digest);
  EXPECT_EQ(riot->manifest.defaultArgs, "{tap}");

  // A blob whose bytes changed on disk is refused when fetched.
  writeFile((*store)->blobPath(a->manifest.autDigest), "tampered");
  auto f = (*store)->fetch(a->manifest.autDigest, d.path() + "/out");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("corrupt"), std::string::npos) << f.error().message;
  EXPECT_FALSE(fs::exists(d.path() + "/out"));
  // And a put under a digest that does not match the content is refused.
  auto p = (*store)->put(sha256Hex("other"), writeFile(d.path() + "/x", "content"));
  EXPECT_FALSE(p);
}

TEST(ImageCache, FetchesVerifiesAndLaysOutTheApp) {
  TempDir d;
  auto store = LocalImageStore::open(d.path() + "/store");
  ASSERT_TRUE(store);
  auto img = buildImage(**store, test::sampleAut(), "periodic", Profile::Linux);
  ASSERT_TRUE(img);
  ImageCache cache(d.path() + "/cache", **store);
  auto local = cache.ensure(img->digest);
  ASSERT_TRUE(local) << local.error().message;
  std::string exe = local->appDir + "/periodic";
  struct stat st {};
  ASSERT_EQ(::stat(exe.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(*sha256File(exe), img->manifest.autDigest);
  // Cached: a second call does not need the store.
  fs::remove_all(d.path() + "/store");
  EXPECT_TRUE(cache.ensure(img->digest));
  auto missing = cache.ensure(sha256Hex("nothing"));
  EXPECT_FALSE(missing);
}

}  // namespace
}  // namespace kuiga::imagestore
