#include "sys/process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "sys/file.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::sys {

// Everything a pipe's read end gives until its writers are gone.
static std::string readToEnd(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

static SpawnOptions sh(const std::string& script) {
  SpawnOptions o;
  o.path = "/bin/sh";
  o.argv = {"sh", "-c", script};
  return o;
}

TEST(Process, ExitCodesAndSignals) {
  auto ok = spawn(sh("exit 0"));
  ASSERT_TRUE(ok) << ok.error().message;
  auto st = ok->wait();
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0);

  auto seven = spawn(sh("exit 7"));
  EXPECT_EQ(seven->wait()->code, 7);
  EXPECT_EQ((ExitStatus{true, 7}.describe()), "exited with code 7");

  auto sleeper = spawn(sh("exec sleep 100"));
  ASSERT_TRUE(sleeper);
  EXPECT_FALSE(sleeper->tryWait().value().has_value());
  ASSERT_TRUE(sleeper->signal(SIGTERM));
  auto killed = sleeper->wait();
  EXPECT_FALSE(killed->exited);
  EXPECT_EQ(killed->code, SIGTERM);
  EXPECT_EQ(killed->describe(), "killed by signal 15 (SIGTERM)");
}

TEST(Process, ExecErrorsCarryTheRealReason) {
  auto missing = spawn({"/nonexistent/aut", {"aut"}, {}, 0, -1, {}, true, {}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find("/nonexistent/aut"), std::string::npos);

  test::TempDir dir;
  std::string text = dir.path() + "/notelf";
  {
    auto fd = openFile(text, O_WRONLY | O_CREAT, 0755);
    ASSERT_TRUE(writeAll(fd->get(), "hello\n", 6));
  }
  ::chmod(text.c_str(), 0755);
  auto notElf = spawn({text, {"notelf"}, {}, 0, -1, {}, true, {}});
  ASSERT_FALSE(notElf);
  EXPECT_EQ(notElf.error().code, ENOEXEC);
  EXPECT_NE(notElf.error().message.find("Exec format error"), std::string::npos);
}

TEST(Process, FdMappingAndNothingElseInherited) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  // An fd without CLOEXEC, as a careless library might leave one: it must not reach the child.
  UniqueFd stray(::fcntl(r.get(), F_DUPFD, 50));
  ASSERT_GE(stray.get(), 50);
  auto o = sh("echo hello >&5; ls /proc/self/fd >&5");
  o.fds = {{w.get(), 5}};
  auto c = spawn(o);
  ASSERT_TRUE(c) << c.error().message;
  w.reset();
  ASSERT_TRUE(c->wait());
  const std::string out = readToEnd(r.get());
  EXPECT_EQ(out.substr(0, 6), "hello\n");
  EXPECT_NE(out.find("\n5\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("\n" + std::to_string(stray.get()) + "\n"), std::string::npos) << out;
}

TEST(Process, TheParentsDescriptorsAreUntouched) {
  // The child shares the parent's table until it takes its own: mapping onto 0, 1 and 2 and
  // closing the rest must change nothing here, whatever the sources' numbers.
  struct stat before[3];
  for (int fd = 0; fd < 3; ++fd) ASSERT_EQ(::fstat(fd, &before[fd]), 0);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 200; ++i) held.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  auto o = sh("echo out; echo err >&2; ls /proc/self/fd | wc -l >&2");
  o.fds = {{held[7].get(), 0}, {w.get(), 1}, {w.get(), 2}};
  auto c = spawn(o);
  ASSERT_TRUE(c) << c.error().message;
  w.reset();
  ASSERT_TRUE(c->wait());
  const std::string out = readToEnd(r.get());
  EXPECT_EQ(out.substr(0, 8), "out\nerr\n") << out;
  for (const auto& h : held) EXPECT_GE(::fcntl(h.get(), F_GETFD), 0) << h.get();
  for (int fd = 0; fd < 3; ++fd) {
    struct stat now {};
    ASSERT_EQ(::fstat(fd, &now), 0) << fd;
    EXPECT_EQ(now.st_ino, before[fd].st_ino) << fd;
    EXPECT_EQ(now.st_dev, before[fd].st_dev) << fd;
  }
}

TEST(Process, WherePidfdGetfdIsRefusedTheTableIsCopiedInstead) {
  // A process whose seccomp filter refuses pidfd_getfd(), as a ptrace policy would: its
  // spawns still pass their descriptors, by copying the table as before.
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pidfd_getfd), 0) < 0 ||
        seccomp_load(ctx) < 0)
      ::_exit(2);
    for (const char* word : {"first", "second"}) {
      auto o = sh(std::string("echo ") + word + " >&5");
      o.fds = {{w.get(), 5}};
      auto c = spawn(o);
      if (!c) ::_exit(3);
      auto st = c->wait();
      if (!st || !st->exited) ::_exit(4);
      if (st->code != 0) ::_exit(10 + st->code);
    }
    ::_exit(0);
  }
  w.reset();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string out = readToEnd(r.get());
  EXPECT_EQ(out, "first\nsecond\n");
}

TEST(Process, DestructorKillsAndReaps) {
  pid_t pid;
  {
    auto c = spawn(sh("exec sleep 100"));
    ASSERT_TRUE(c);
    pid = c->pid();
  }
  EXPECT_EQ(::kill(pid, 0), -1) << "killed and reaped, not a zombie";
}

TEST(Process, BlockedSignalsQueueUntilTheChildIsReady) {
  // SIGUSR1 would kill sleep; blocked across exec, it waits in the queue instead.
  SpawnOptions o{"/bin/sleep", {"sleep", "0.2"}, {}, 0, -1, {}, true, {}};
  o.blockedSignals = {SIGUSR1};
  auto c = spawn(o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->signal(SIGUSR1));
  auto st = c->wait();
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0);
}

// A child with a parent-death signal ends when the thread that spawned it ends (a benchmark's
// copies must not outlive a killed benchmark); one without stays.
TEST(Process, TheParentDeathSignalEndsTheChildWithTheThreadThatSpawnedIt) {
  auto spawnFromThread = [](int sig) {
    pid_t pid = -1;
    std::thread([&] {
      SpawnOptions o{"/bin/sleep", {"sleep", "100"}, {}, 0, -1, {}, true, {}};
      o.parentDeathSignal = sig;
      if (auto c = spawn(o)) {
        pid = c->pid();
        c->release();  // not killed by its destructor: left to the signal
      }
    }).join();
    return pid;
  };
  const pid_t with = spawnFromThread(SIGKILL), without = spawnFromThread(0);
  ASSERT_GT(with, 0);
  ASSERT_GT(without, 0);
  int st = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 500 && (reaped = ::waitpid(with, &st, WNOHANG)) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(reaped, with) << "the child outlived the thread that spawned it";
  if (reaped == with) {
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
  }
  EXPECT_EQ(::waitpid(without, &st, WNOHANG), 0) << "a child without the signal stays";
  for (pid_t p : {with, without})
    if (::kill(p, SIGKILL) == 0) ::waitpid(p, nullptr, 0);
}

TEST(Process, StartTimeIdentifiesAProcess) {
  auto c = spawn(sh("exec sleep 100"));
  auto t1 = processStartTime(c->pid());
  ASSERT_TRUE(t1);
  EXPECT_EQ(processStartTime(c->pid()).value(), *t1);
  EXPECT_GT(*t1, processStartTime(1).value());
}

TEST(Process, StateSaysSleepingZombieAndGone) {
  auto c = spawn(sh("exec sleep 100"));
  ASSERT_TRUE(c);
  const pid_t pid = c->pid();
  const char alive = processState(pid);
  EXPECT_TRUE(alive == 'R' || alive == 'S') << alive;
  ASSERT_TRUE(c->signal(SIGKILL));
  for (int i = 0; i < 500 && processState(pid) != 'Z'; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(processState(pid), 'Z') << "unreaped";
  (void)c->wait();
  EXPECT_EQ(processState(pid), 0) << "reaped";
}

TEST(Process, ROOT_NewPidAndUtsNamespaces) {
  SKIP_UNLESS_ROOT();
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  auto o = sh("echo $$");
  o.namespaces = CLONE_NEWPID | CLONE_NEWUTS;
  o.fds = {{w.get(), 1}};
  auto c = spawn(o);
  ASSERT_TRUE(c) << c.error().message;
  w.reset();
  char buf[16] = {0};
  ASSERT_GT(::read(r.get(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "1\n") << "the child is PID 1 of its namespace";
  EXPECT_TRUE(c->wait()->exited);
}

}  // namespace kuiga::sys
