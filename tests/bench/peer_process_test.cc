// bench::PeerProcess, the peer servers' process (redis-server, victoria-metrics, prometheus):
// started, stopped with a signal, reaped when it ends on its own, and killed by the kernel when
// the benchmark that started it dies.
#include "bench/peer_process.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "base/thread_name.h"
#include "jepsen/process.h"

namespace meld::bench {
namespace {

// A shell that writes its pid to its log, then becomes `sleep 60` (same pid).
std::vector<std::string> sleeper() {
  return {"sh", "-c", "echo $$; exec sleep 60"};
}

// The pid the sleeper wrote to log_path, waiting up to 10 s for it.
std::optional<pid_t> logged_pid(const std::string& log_path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log_path);
    long pid = 0;
    if (in >> pid && pid > 0) return static_cast<pid_t>(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

// True once pid is gone or a zombie (dead, waiting for a reaper that is not us), within 10 s.
bool dies(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_field, comm, state;
    if (!(stat >> pid_field >> comm >> state) || state == "Z") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(PeerProcess, StopSendsTheSignalAndReturnsTheExitStatus) {
  jepsen::TempDir dir;
  const std::string log = dir.path() + "/peer.log";
  PeerProcess peer("sleeper", sleeper(), log);
  ASSERT_TRUE(peer.start().is_ok());
  EXPECT_TRUE(peer.running());
  const std::optional<pid_t> pid = logged_pid(log);
  ASSERT_TRUE(pid.has_value());
  EXPECT_FALSE(peer.exited());
  EXPECT_EQ(peer.stop(SIGTERM, 10000), 128 + SIGTERM);
  EXPECT_FALSE(peer.running());
  EXPECT_TRUE(dies(*pid));
  EXPECT_EQ(peer.stop(SIGTERM, 10000), -1);  // not running any more
  EXPECT_EQ(peer.log_tail(100), std::to_string(*pid) + "\n");
}

TEST(PeerProcess, ExitedReapsAProcessThatEndsOnItsOwn) {
  jepsen::TempDir dir;
  PeerProcess peer("short", {"sh", "-c", "echo bye"}, dir.path() + "/peer.log");
  ASSERT_TRUE(peer.start().is_ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!peer.exited() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(peer.exited());
  EXPECT_FALSE(peer.running());
  EXPECT_EQ(peer.log(), "bye\n");
}

TEST(PeerProcess, DestructorKillsARunningProcess) {
  jepsen::TempDir dir;
  const std::string log = dir.path() + "/peer.log";
  std::optional<pid_t> pid;
  {
    PeerProcess peer("sleeper", sleeper(), log);
    ASSERT_TRUE(peer.start().is_ok());
    pid = logged_pid(log);
    ASSERT_TRUE(pid.has_value());
  }
  EXPECT_TRUE(dies(*pid));
}

TEST(PeerProcess, DiesWithTheProcessThatStartedIt) {
  jepsen::TempDir dir;
  const std::string log = dir.path() + "/peer.log";
  // This process adopts the peer once its parent dies (a child subreaper), so it can reap the
  // peer and see how it ended.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  // The child plays the benchmark: it starts the peer, then is SIGKILLed, so no destructor runs.
  const pid_t bench = fork();
  ASSERT_GE(bench, 0);
  if (bench == 0) {
    PeerProcess peer("sleeper", sleeper(), log);
    if (!peer.start().is_ok()) _exit(1);
    for (;;) pause();
  }
  const std::optional<pid_t> pid = logged_pid(log);
  kill(bench, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(waitpid(bench, &wstatus, 0), bench);
  EXPECT_TRUE(WIFSIGNALED(wstatus));
  ASSERT_TRUE(pid.has_value());
  // Until the peer is adopted, waitpid fails (not our child); then it returns its status.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  pid_t reaped = 0;
  while (reaped != *pid && std::chrono::steady_clock::now() < deadline) {
    reaped = waitpid(*pid, &wstatus, WNOHANG);
    if (reaped != *pid) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (reaped != *pid) {  // still running: the parent-death signal did not work; clean up
    kill(*pid, SIGKILL);
    waitpid(*pid, &wstatus, 0);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  ASSERT_EQ(reaped, *pid);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
}

TEST(FreeLoopbackPort, GivesAPortThatCanBeBound) {
  Result<int> port = free_loopback_port();
  ASSERT_TRUE(port.is_ok());
  ASSERT_GT(*port, 0);
  ASSERT_LT(*port, 65536);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
}

TEST(ProcessCpu, CountsTheCpuAThreadBurnsUnderItsName) {
  std::atomic<bool> burned{false};
  std::atomic<bool> done{false};
  std::thread burner([&] {
    set_thread_name("cpu-burner");
    // Spin until the thread has used 50 ms of CPU, as the kernel counts it.
    timespec cpu{};
    volatile uint64_t spin = 0;
    do {
      for (int i = 0; i < 100000; ++i) spin = spin + 1;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    } while (cpu.tv_sec == 0 && cpu.tv_nsec < 50'000'000);
    burned = true;
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!burned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto threads = thread_cpu_seconds(getpid());
  auto total = process_cpu_seconds(getpid());
  done = true;
  burner.join();
  ASSERT_TRUE(threads.is_ok()) << threads.status().to_string();
  ASSERT_TRUE(total.is_ok()) << total.status().to_string();
  ASSERT_TRUE(threads->contains("cpu-burner"));
  // Clock ticks are 10 ms at most: 50 ms burned reads as at least 40 ms.
  EXPECT_GE(threads->at("cpu-burner"), 0.04);
  EXPECT_GE(*total, threads->at("cpu-burner"));
}

TEST(ProcessCpu, AProcessThatIsGoneIsNotFound) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  EXPECT_EQ(process_cpu_seconds(child).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(thread_cpu_seconds(child).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace meld::bench
