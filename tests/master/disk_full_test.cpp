// A full disk under the master's data directory and under a worker's image cache: each is an
// answer that says where (507 insufficient_storage), never a 500, and leaves nothing half-made.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "imagestore/image_store.hpp"
#include "tests/support/cluster.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A small tmpfs to fill, unmounted however the test ends.
struct SmallDisk {
  std::string path;
  explicit SmallDisk(const std::string& at) : path(at) {
    fs::create_directories(path);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=3m,mode=0700") != 0) path.clear();
  }
  ~SmallDisk() {
    if (!path.empty()) ::umount2(path.c_str(), MNT_DETACH);
  }
  // Fills it to the last byte; `leaveKiB` are freed again afterwards.
  void fill(size_t leaveKiB = 0) const {
    std::string filler = path + "/filler";
    {
      std::ofstream out(filler, std::ios::binary | std::ios::app);
      std::string block(4096, 'f');
      while (out.write(block.data(), block.size())) {
      }
    }
    auto size = fs::file_size(filler);
    fs::resize_file(filler, size > leaveKiB * 1024 ? size - leaveKiB * 1024 : 0);
  }
  void empty() const { fs::remove(path + "/filler"); }
};

bool hasTemporaryFiles(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos ||
        e.path().filename().string().rfind("upload-", 0) == 0)
      return true;
  return false;
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount)";
    disk_ = std::make_unique<SmallDisk>(dir_.path() + "/disk");
    ASSERT_FALSE(disk_->path.empty());
    master::ServerConfig cfg;
    cfg.dataDir = disk_->path + "/data";
    cfg.port = 0;
    cfg.master.heartbeat = std::chrono::milliseconds(200);
    auto s = master::Server::start(cfg);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    auto conf = client::readConfig(server_->clientConfigPath());
    ASSERT_TRUE(conf) << conf.error().message;
    api_ = std::make_unique<client::ApiClient>(server_->url(), conf->token);
    worker_ = std::make_unique<FakeWorker>("w1", *server_, 10);
    ASSERT_TRUE(eventually([&] { return worker_->connected(); }));
  }
  void TearDown() override {
    worker_.reset();
    server_.reset();
    disk_.reset();
  }
  TempDir dir_;
  std::unique_ptr<SmallDisk> disk_;
  std::unique_ptr<master::Server> server_;
  std::unique_ptr<client::ApiClient> api_;
  std::unique_ptr<FakeWorker> worker_;
};

TEST_F(DiskFullTest, ROOT_AnUploadOntoAFullDiskIs507AndLeavesNothing) {
  disk_->fill();
  auto r = api_->upload("/api/v1/images", sampleAut(), "aut", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 507) << r->text;
  EXPECT_EQ(r->body.value("error", ""), "insufficient_storage") << r->text;
  EXPECT_NE(r->body.value("message", "").find(disk_->path), std::string::npos) << r->text;
  EXPECT_FALSE(hasTemporaryFiles(disk_->path + "/data")) << "nothing half-written stays";
  // Room for the spooled upload but not for the blob too.
  disk_->empty();
  disk_->fill(static_cast<size_t>(fs::file_size(sampleAut()) / 1024 + 8));
  auto half = api_->upload("/api/v1/images", sampleAut(), "aut", {});
  ASSERT_TRUE(half);
  EXPECT_EQ(half->status, 507) << half->text;
  EXPECT_FALSE(hasTemporaryFiles(disk_->path + "/data"));
  disk_->empty();
  auto ok = api_->upload("/api/v1/images", sampleAut(), "aut", {});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201) << ok->text;
}

TEST_F(DiskFullTest, ROOT_ACreateOntoAFullDiskIs507AndLeavesNoHalfRun) {
  auto img = api_->upload("/api/v1/images", sampleAut(), "aut", {});
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 201) << img->text;
  disk_->fill();
  json spec = {{"image", img->body["digest"]}, {"count", 5}};
  auto r = api_->request("POST", "/api/v1/runs", spec.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 507) << r->text;
  EXPECT_EQ(r->body.value("error", ""), "insufficient_storage") << r->text;
  // Nothing, or a run that can be deleted.
  auto runs = api_->get("/api/v1/runs?deleted=1");
  ASSERT_TRUE(runs) << runs.error().message;
  for (const auto& run : (*runs)["items"]) {
    auto del = api_->request("DELETE", fmt::format("/api/v1/runs/{}", run["id"].get<int>()));
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 202) << del->text;
  }
  EXPECT_TRUE(worker_->runtime().list().empty());
  disk_->empty();
  auto again = api_->request("POST", "/api/v1/runs", spec.dump());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 201) << again->text;
}

TEST_F(DiskFullTest, ROOT_AWorkerWithAFullCacheNamesTheCause) {
  auto img = api_->upload("/api/v1/images", sampleAut(), "aut", {});
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 201) << img->text;
  SmallDisk cacheDisk(dir_.path() + "/cache");
  ASSERT_FALSE(cacheDisk.path.empty());
  cacheDisk.fill(8);  // room for the manifest, not the AUT
  worker::MasterLink link({server_->url(),
                           "w-test",
                           dir_.path() + "/w-test",
                           {},
                           {},
                           credentialsFor(*server_, "w-test")});
  worker::LinkBlobSource blobs(link);
  imagestore::ImageCache cache(cacheDisk.path, blobs);
  auto got = cache.ensure(img->body["digest"]);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("No space left on device while writing blob"),
            std::string::npos)
      << got.error().message;
  cacheDisk.empty();
  EXPECT_TRUE(cache.ensure(img->body["digest"])) << "and it works once there is room";
}

}  // namespace
}  // namespace kuiga::test
