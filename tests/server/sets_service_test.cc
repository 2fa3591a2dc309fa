// The Sets service in-process, on a real engine and store, with commit failures injected
// (storage::CommitFaults), which a test against a meldd process cannot cause: a set whose commit
// failed refuses writes until the service reopens it, which it does on the next call once
// nothing of the set is in flight.
#include <gtest/gtest.h>
#include <kj/async.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "schemas/api.capnp.h"
#include "server/services.h"
#include "storage/engine.h"
#include "storage/ts_store.h"
#include "tests/storage/temp_dir.h"

namespace meld::server {
namespace {

// Engine completions run on the test's KJ event loop, as on meldd's loop thread: the commit
// thread hands each one over and waits until the loop (inside a wait() of the test) has run it.
class LoopExecutor final : public storage::CompletionExecutor {
 public:
  LoopExecutor() : loop_(kj::getCurrentThreadExecutor()) {}
  void post(std::function<void()> fn) override {
    loop_.executeSync([&fn] { fn(); });
  }

 private:
  const kj::Executor& loop_;
};

kj::Array<const capnp::byte> bytes(const std::string& s) {
  return kj::heapArray(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

class SetsService : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Options options;
    options.dir = dir_.sub("data");
    options.sync = false;
    options.commit_faults = faults_;
    auto engine = storage::Engine::open(options, &executor_);
    ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
    engine_ = std::move(*engine);
    auto ts = storage::TsStore::open(*engine_, clock_, storage::TsStoreOptions{});
    ASSERT_TRUE(ts.is_ok()) << ts.status().to_string();
    ts_ = std::move(*ts);
    NodeProbe probe{[] { return int64_t{0}; }, [] { return uint32_t{0}; }};
    NodeInfo info;
    info.node_id = 7;
    api::Meld::Client meld = make_meld_service(*engine_, *ts_, std::move(info), probe);
    sets_ = meld.setsRequest().send().wait(*ws_).getSets();
  }

  void TearDown() override {
    sets_.reset();
    ts_.reset();
    if (engine_) engine_->close();
  }

  // Adds members to set; the call's error description, or "" when it succeeded.
  std::string add(const std::string& set, const std::vector<std::string>& members) {
    auto request = sets_->addRequest();
    request.setSet(bytes(set));
    auto list = request.initMembers(static_cast<unsigned>(members.size()));
    for (unsigned i = 0; i < members.size(); ++i) list.set(i, bytes(members[i]));
    try {
      request.send().wait(*ws_);
      return "";
    } catch (const kj::Exception& e) {
      return e.getDescription().cStr();
    }
  }

  bool contains(const std::string& set, const std::string& member) {
    auto request = sets_->containsRequest();
    request.setSet(bytes(set));
    request.setMember(bytes(member));
    return request.send().wait(*ws_).getPresent();
  }

  // Behind pointers: their destructors may throw, which a test fixture's may not.
  std::unique_ptr<kj::EventLoop> loop_ = std::make_unique<kj::EventLoop>();
  std::unique_ptr<kj::WaitScope> ws_ = std::make_unique<kj::WaitScope>(*loop_);
  LoopExecutor executor_;
  storage::testing::TempDir dir_;
  std::shared_ptr<storage::CommitFaults> faults_ = std::make_shared<storage::CommitFaults>();
  SystemClock clock_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::TsStore> ts_;
  std::optional<api::Sets::Client> sets_;
};

TEST_F(SetsService, ASetWhoseCommitFailedIsReopenedAndTakesWritesAgain) {
  ASSERT_EQ(add("s", {"a"}), "");
  faults_->fail_next_groups(1);
  const std::string failed = add("s", {"b"});
  EXPECT_NE(failed, "") << "the injected commit failure must fail the call";
  EXPECT_FALSE(contains("s", "b"));

  // Nothing of the set is in flight now: the next call reopens it from what committed.
  EXPECT_EQ(add("s", {"c"}), "");
  EXPECT_TRUE(contains("s", "a"));
  EXPECT_FALSE(contains("s", "b"));
  EXPECT_TRUE(contains("s", "c"));
  // Another set never saw the failure.
  EXPECT_EQ(add("t", {"x"}), "");
  EXPECT_TRUE(contains("t", "x"));
}

}  // namespace
}  // namespace meld::server
