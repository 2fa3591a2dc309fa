// The simulator's network and disk models behave as the simulator's checks assume.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "tests/sim/lib/kv_state_machine.h"
#include "tests/sim/lib/sim_disk.h"
#include "tests/sim/lib/sim_network.h"

namespace meld::sim {
namespace {

using consensus::Entry;
using consensus::Message;

Message msg(uint64_t from, uint64_t to, uint64_t index = 0) {
  Message m;
  m.from = from;
  m.to = to;
  m.term = 1;
  m.index = index;
  return m;
}

std::vector<Message> drain(SimNetwork& net, int64_t until_us) {
  std::vector<Message> out;
  while (std::optional<Delivery> d = net.pop_due(until_us)) out.push_back(d->message);
  return out;
}

TEST(SimNetwork, DeliversAfterTheDelayAndNotBefore) {
  NetworkOptions opts;
  opts.min_delay_us = 100;
  opts.max_delay_us = 100;
  SimNetwork net(opts, 1);
  EXPECT_EQ(net.send(msg(1, 2), 0), SendOutcome::kQueued);
  EXPECT_TRUE(drain(net, 99).empty());
  ASSERT_EQ(drain(net, 100).size(), 1u);
  EXPECT_EQ(net.in_flight(), 0u);
}

TEST(SimNetwork, RandomDelaysReorderMessages) {
  NetworkOptions opts;
  opts.min_delay_us = 1;
  opts.max_delay_us = 1000;
  SimNetwork net(opts, 7);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_EQ(net.send(msg(1, 2, i), 0), SendOutcome::kQueued);
  std::vector<Message> got = drain(net, 1000);
  ASSERT_EQ(got.size(), 50u);
  bool reordered = false;
  for (size_t i = 1; i < got.size(); ++i) reordered |= got[i].index < got[i - 1].index;
  EXPECT_TRUE(reordered);
}

TEST(SimNetwork, AsymmetricCutDropsOneDirectionOnly) {
  SimNetwork net(NetworkOptions{}, 1);
  net.cut(1, 2);
  EXPECT_EQ(net.send(msg(1, 2), 0), SendOutcome::kCut);
  EXPECT_EQ(net.send(msg(2, 1), 0), SendOutcome::kQueued);
  std::vector<Message> got = drain(net, 1'000'000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from, 2u);
}

TEST(SimNetwork, PartitionDropsMessagesInFlightAndHealRestoresLinks) {
  SimNetwork net(NetworkOptions{}, 1);
  ASSERT_EQ(net.send(msg(1, 2), 0), SendOutcome::kQueued);
  ASSERT_EQ(net.send(msg(3, 1), 0), SendOutcome::kQueued);
  net.isolate({1}, {1, 2, 3});
  EXPECT_FALSE(net.connected(1, 2));
  EXPECT_FALSE(net.connected(3, 1));
  EXPECT_TRUE(net.connected(2, 3));
  EXPECT_TRUE(drain(net, 1'000'000).empty());
  EXPECT_EQ(net.stats().cut, 2u);
  net.heal();
  EXPECT_EQ(net.send(msg(1, 2), 0), SendOutcome::kQueued);
  EXPECT_EQ(drain(net, 1'000'000).size(), 1u);
}

TEST(SimNetwork, DuplicationDeliversTwoCopies) {
  NetworkOptions opts;
  opts.duplicate_probability = 1.0;
  SimNetwork net(opts, 1);
  EXPECT_EQ(net.send(msg(1, 2, 42), 0), SendOutcome::kDuplicated);
  std::vector<Message> got = drain(net, 1'000'000);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], got[1]);
}

TEST(SimNetwork, LossDropsAboutTheConfiguredFraction) {
  NetworkOptions opts;
  opts.loss_probability = 0.3;
  SimNetwork net(opts, 3);
  int lost = 0;
  for (int i = 0; i < 1000; ++i) lost += net.send(msg(1, 2), 0) == SendOutcome::kLost;
  EXPECT_GT(lost, 230);
  EXPECT_LT(lost, 370);
}

TEST(SimNetwork, AFullLinkDropsButOtherLinksStillCarry) {
  NetworkOptions opts;
  opts.max_in_flight_per_link = 3;
  SimNetwork net(opts, 1);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(net.send(msg(1, 2), 0), SendOutcome::kQueued);
  EXPECT_EQ(net.send(msg(1, 2), 0), SendOutcome::kLinkFull);
  EXPECT_EQ(net.send(msg(1, 3), 0), SendOutcome::kQueued);
  drain(net, 1'000'000);
  EXPECT_EQ(net.send(msg(1, 2), 0), SendOutcome::kQueued);
}

Entry entry(uint64_t index, uint64_t term) {
  return Entry{term, index, consensus::EntryType::kNormal, "e" + std::to_string(index)};
}

TEST(SimDisk, CrashLosesUnsyncedBatchesBeyondThePrefixKept) {
  SimDisk disk{consensus::MemoryStorage()};
  ASSERT_TRUE(
      disk.write(DiskBatch{std::nullopt, {entry(1, 1)}, std::nullopt, std::nullopt}).is_ok());
  ASSERT_TRUE(disk.sync().is_ok());
  ASSERT_TRUE(
      disk.write(DiskBatch{std::nullopt, {entry(2, 1)}, std::nullopt, std::nullopt}).is_ok());
  ASSERT_TRUE(
      disk.write(
              DiskBatch{std::nullopt, {entry(3, 1)}, consensus::HardState{1, 2, 0}, std::nullopt})
          .is_ok());
  EXPECT_EQ(disk.storage().last_index(), 3u);
  EXPECT_EQ(disk.durable().last_index(), 1u);
  Result<std::vector<DiskBatch>> kept = disk.crash(1);
  ASSERT_TRUE(kept.is_ok());
  EXPECT_EQ(kept->size(), 1u);
  EXPECT_EQ(disk.storage().last_index(), 2u);
  EXPECT_EQ(disk.storage().initial_state()->hard_state.vote, 0u);  // the vote was not synced
}

TEST(SimDisk, ARejectedWriteChangesNothing) {
  SimDisk disk{consensus::MemoryStorage()};
  EXPECT_FALSE(
      disk.write(DiskBatch{std::nullopt, {entry(5, 1)}, std::nullopt, std::nullopt}).is_ok());
  EXPECT_EQ(disk.storage().last_index(), 0u);
  EXPECT_EQ(disk.unsynced_batches(), 0u);
}

TEST(KvStateMachine, SnapshotRoundTripsStateAndDigest) {
  KvStateMachine sm = KvStateMachine::at_index(1);
  Entry w{2, 2, consensus::EntryType::kNormal, encode_command({7, CommandKind::kWrite, "k", 5, 0})};
  Entry cas{2, 3, consensus::EntryType::kNormal, encode_command({8, CommandKind::kCas, "k", 6, 4})};
  ASSERT_TRUE(sm.apply(w).is_ok());
  Result<ApplyResult> r = sm.apply(cas);
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r->took_effect);  // the register held 5, not 4
  EXPECT_EQ(sm.get("k"), 5);
  Result<KvStateMachine> back = KvStateMachine::decode(sm.encode());
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, sm);
  EXPECT_FALSE(KvStateMachine::decode("3 x").is_ok());
}

}  // namespace
}  // namespace meld::sim
