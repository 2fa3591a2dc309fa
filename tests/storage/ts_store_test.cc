#include "storage/ts_store.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <future>
#include <limits>
#include <map>
#include <random>
#include <thread>

#include "base/varint.h"
#include "tests/storage/held_executor.h"
#include "tests/storage/temp_dir.h"
#include "timeseries/merge.h"

namespace meld::storage {
namespace {

using testing::TempDir;

using ts::Sample;

// Wall time that a test sets by hand.
class TestClock final : public Clock {
 public:
  int64_t monotonic_ms() const override { return now_ms; }
  int64_t wall_ms() const override { return now_ms; }
  int64_t now_ms = 0;
};

ts::Labels labels_of(std::vector<ts::Label> labels) {
  auto made = ts::Labels::make_series(std::move(labels));
  MELD_ASSERT(made.is_ok(), made.status().to_string());
  return *made;
}

// The ref of a series the store holds (asserted).
uint64_t ref_of(TsStore& store, const ts::Labels& labels) {
  auto ref = store.find_series(labels);
  MELD_ASSERT(ref.is_ok() && ref->has_value(), "not in the store: " + labels.to_string());
  return **ref;
}

bool same_samples(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const Sample& x, const Sample& y) { return ts::identical(x, y); });
}

// An engine alone in a temp directory, for tests that open stores on it by hand.
struct BareEngine {
  BareEngine() {
    Options options;
    options.dir = dir.sub("db");
    auto opened = Engine::open(options, &executor);
    MELD_ASSERT(opened.is_ok(), opened.status().to_string());
    engine = std::move(opened).value();
  }

  TempDir dir;
  InlineExecutor executor;
  TestClock clock;
  std::unique_ptr<Engine> engine;
};

// store.write() of items, and the future of its done callback (which never runs when the write
// was refused or accepted nothing).
struct Pending {
  Result<TsStore::WriteResult> result;
  std::future<Status> durable;
};
Pending write_async(TsStore& store, std::span<const TsStore::SeriesWrite> items) {
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> durable = done->get_future();
  auto result = store.write(items, [done](Status s) { done->set_value(s); });
  return Pending{std::move(result), std::move(durable)};
}
Pending write_async(TsStore& store, const ts::Labels& labels, const std::vector<Sample>& samples) {
  TsStore::SeriesWrite item{&labels, samples, {}, 0};
  return write_async(store, {&item, 1});
}

// An engine and a store on it in a temp directory; reopen() closes both and opens them again,
// as a restart does.
class StoreFixture {
 public:
  // max_group_batches 1 makes every commit its own group, so an armed failure hits exactly the
  // next batch committed (a test that needs a record to fail and the seal behind it to commit).
  explicit StoreFixture(TsStoreOptions options = {}, size_t max_group_batches = 1024)
      : options_(options), max_group_batches_(max_group_batches) {
    open();
  }

  void open() {
    Options engine_options;
    engine_options.dir = dir_.sub("db");
    engine_options.block_cache_bytes = 4 << 20;
    engine_options.sync = false;  // close() and kill -9 keep OS-buffered writes
    engine_options.commit_faults = faults_;
    engine_options.max_group_batches = max_group_batches_;
    auto engine = Engine::open(engine_options, &executor_);
    MELD_ASSERT(engine.is_ok(), engine.status().to_string());
    engine_ = std::move(engine).value();
    auto store = TsStore::open(*engine_, clock_, options_);
    MELD_ASSERT(store.is_ok(), store.status().to_string());
    store_ = std::move(store).value();
  }

  // A restart: failures armed by a test and not yet met are dropped first.
  void reopen() {
    faults_->disarm();
    store_.reset();
    engine_->close();
    engine_.reset();
    open();
  }

  // Writes one series and waits until it is durable.
  TsStore::WriteResult write(const ts::Labels& labels, const std::vector<Sample>& samples) {
    TsStore::SeriesWrite item{&labels, samples, {}, 0};
    return write_all({&item, 1});
  }

  TsStore::WriteResult write_all(std::span<const TsStore::SeriesWrite> items) {
    Pending pending = write_async(*store_, items);
    MELD_ASSERT(pending.result.is_ok(), pending.result.status().to_string());
    if (pending.result->accepted > 0) {
      Status s = pending.durable.get();
      MELD_ASSERT(s.is_ok(), s.to_string());
    }
    return *pending.result;
  }

  std::vector<Sample> read(const ts::Labels& labels,
                           int64_t min_ms = std::numeric_limits<int64_t>::min(),
                           int64_t max_ms = std::numeric_limits<int64_t>::max()) {
    std::vector<Sample> out;
    bool more = true;
    auto ref = store_->find_series(labels);
    MELD_ASSERT(ref.is_ok(), ref.status().to_string());
    if (!ref->has_value()) return out;
    Status s = store_->samples(**ref, min_ms, max_ms, SIZE_MAX, &out, &more);
    MELD_ASSERT(s.is_ok(), s.to_string());
    MELD_ASSERT(!more, "more samples without a limit");
    return out;
  }

  // Keys of the family that start with prefix.
  size_t count_keys(std::string_view prefix, Family family = Family::kTs) {
    std::vector<std::pair<std::string, std::string>> out;
    bool more = false;
    Status s =
        engine_->scan(family, prefix, prefix_successor(std::string(prefix)), 1000000, &out, &more);
    MELD_ASSERT(s.is_ok(), s.to_string());
    return out.size();
  }

  TsStore& store() { return *store_; }
  Engine& engine() { return *engine_; }
  TestClock& clock() { return clock_; }
  CommitFaults& faults() { return *faults_; }

 private:
  TempDir dir_;
  InlineExecutor executor_;
  TestClock clock_;
  std::shared_ptr<CommitFaults> faults_ = std::make_shared<CommitFaults>();
  TsStoreOptions options_;
  size_t max_group_batches_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<TsStore> store_;
};

std::vector<Sample> regular(int64_t start_ms, int64_t step_ms, size_t n, double base = 0) {
  std::vector<Sample> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back({start_ms + static_cast<int64_t>(i) * step_ms, base + static_cast<double>(i)});
  }
  return out;
}

const ts::Labels& cpu() {
  static const ts::Labels labels =
      labels_of({{"__name__", "cpu"}, {"host", "a"}, {"mode", "idle"}});
  return labels;
}

TEST(TsStore, WrittenSamplesReadBackBitForBitIncludingNanPayloadsAndRanges) {
  StoreFixture f;
  std::vector<Sample> samples = regular(1000, 10, 50);
  samples[3].value = std::bit_cast<double>(uint64_t{0x7ff0000000000002});  // stale marker
  samples[4].value = -0.0;
  auto result = f.write(cpu(), samples);
  EXPECT_EQ(result.accepted, 50u);
  EXPECT_TRUE(result.errors.empty());
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
  std::vector<Sample> middle(samples.begin() + 10, samples.begin() + 21);
  EXPECT_TRUE(same_samples(f.read(cpu(), 1100, 1200), middle));
  EXPECT_TRUE(f.read(labels_of({{"__name__", "other"}})).empty());
}

TEST(TsStore, OutOfOrderSamplesAndDuplicatesMergeByTheDuplicateRule) {
  StoreFixture f;
  std::vector<Sample> in_order = regular(0, 10, 20);
  std::vector<Sample> late = {{55, 100.0}, {50, 7.0}, {50, -1.0}, {195, 3.0}, {5, 1.0}};
  f.write(cpu(), in_order);
  f.write(cpu(), late);
  std::vector<Sample> expected = in_order;
  expected.insert(expected.end(), late.begin(), late.end());
  ts::sort_and_resolve(&expected);
  EXPECT_TRUE(same_samples(f.read(cpu()), expected));
  // -1.0 has the sign bit set, so it beats 5.0 and 7.0 at timestamp 50.
  auto at50 = f.read(cpu(), 50, 50);
  ASSERT_EQ(at50.size(), 1u);
  EXPECT_EQ(at50[0].value, -1.0);
}

TEST(TsStore, DuplicatesResolveTheSameWhateverTheArrivalOrder) {
  std::vector<Sample> samples;
  for (int i = 0; i < 40; ++i) samples.push_back({i % 10, static_cast<double>(i * 7 % 13)});
  TsStoreOptions small;
  small.head_samples_max = 4;
  small.late_samples_max = 3;
  std::vector<Sample> first_result;
  std::mt19937 rng(7);
  for (int order = 0; order < 4; ++order) {
    StoreFixture f(small);
    std::shuffle(samples.begin(), samples.end(), rng);
    for (size_t i = 0; i < samples.size(); i += 5) {
      f.write(cpu(), std::vector<Sample>(samples.begin() + i, samples.begin() + i + 5));
    }
    if (order == 0) {
      first_result = f.read(cpu());
      EXPECT_EQ(first_result.size(), 10u);
    } else {
      EXPECT_TRUE(same_samples(f.read(cpu()), first_result));
    }
  }
}

TEST(TsStore, FullHeadsAreSealedIntoBlocksAndTheLogIsTruncated) {
  TsStoreOptions options;
  options.head_samples_max = 100;
  StoreFixture f(options);
  std::vector<Sample> samples = regular(0, 1000, 10000);
  for (size_t i = 0; i < samples.size(); i += 100) {
    f.write(cpu(), std::vector<Sample>(samples.begin() + i, samples.begin() + i + 100));
    if (i == samples.size() / 2) {
      EXPECT_TRUE(same_samples(f.read(cpu()),
                               std::vector<Sample>(samples.begin(), samples.begin() + i + 100)));
    }
    // Truncation is lazy: a write drops the records whose seals the sealer has committed. Waiting
    // for the sealer here makes that happen at the same writes whatever the machine's load.
    ASSERT_TRUE(f.store().wait_for_seals().is_ok());
  }
  EXPECT_EQ(f.store().stats().sealed_blocks, 99u);
  EXPECT_EQ(f.count_keys("B"), 99u);
  EXPECT_LT(f.store().stats().head_bytes, 1000u);
  // Records whose samples are all sealed are range-deleted (in runs, not one by one).
  EXPECT_LT(f.count_keys("W", Family::kTsLog), 100u);
  EXPECT_EQ(f.count_keys("W", Family::kTsLog), f.store().stats().wal_records);
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
}

TEST(TsStore, SealAllLeavesNoLogAndKeepsEverySample) {
  StoreFixture f;
  std::vector<Sample> samples = regular(5, 3, 300);
  f.write(cpu(), samples);
  EXPECT_EQ(f.count_keys("W", Family::kTsLog), 1u);
  ASSERT_TRUE(f.store().seal_all().is_ok());
  EXPECT_EQ(f.count_keys("W", Family::kTsLog), 0u);
  EXPECT_EQ(f.store().stats().wal_records, 0u);
  EXPECT_EQ(f.store().stats().head_bytes, 0u);
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
  // New records after a full truncation get new sequence numbers, so replay does not skip them.
  std::vector<Sample> more = regular(5000, 3, 10);
  f.write(cpu(), more);
  f.reopen();
  samples.insert(samples.end(), more.begin(), more.end());
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
}

TEST(TsStore, LateSamplesAmongSealedOnesRewriteTheBlocksTheyOverlap) {
  TsStoreOptions options;
  options.head_samples_max = 10;
  StoreFixture f(options);
  std::vector<Sample> samples = regular(0, 10, 95);
  f.write(cpu(), samples);
  ASSERT_TRUE(f.store().seal_all().is_ok());
  std::vector<Sample> late = {{15, 1.5}, {20, -3.0}, {905, 9.0}};
  f.write(cpu(), late);
  ASSERT_TRUE(f.store().seal_all().is_ok());
  EXPECT_GE(f.store().stats().rewritten_blocks, 2u);
  std::vector<Sample> expected = samples;
  expected.insert(expected.end(), late.begin(), late.end());
  ts::sort_and_resolve(&expected);
  EXPECT_TRUE(same_samples(f.read(cpu()), expected));
  EXPECT_TRUE(same_samples(f.read(cpu(), 15, 20), std::vector<Sample>{{15, 1.5}, {20, -3.0}}));
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), expected));
}

TEST(TsStore, ReopenReplaysTheLogIntoHeadsWithoutDuplicatingSealedSamples) {
  TsStoreOptions options;
  options.head_samples_max = 7;
  options.late_samples_max = 5;
  StoreFixture f(options);
  std::vector<Sample> all;
  // One write seals in the middle of its own samples: replay must resume after them.
  for (int round = 0; round < 6; ++round) {
    std::vector<Sample> batch = regular(round * 1000, 100, 9, round);
    batch.push_back({round * 1000 + 5, 0.25});  // late
    f.write(cpu(), batch);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  ts::sort_and_resolve(&all);
  EXPECT_TRUE(same_samples(f.read(cpu()), all));
  EXPECT_GT(f.count_keys("W", Family::kTsLog), 0u);
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), all));
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), all));
}

TEST(TsStore, ReplayGivesBackEveryValueBitForBit) {
  StoreFixture f;
  // Values whose XOR with the one before touches the top byte, the bottom byte, every byte or
  // none: the log codes each by the bytes that change.
  const std::vector<double> values = {0.0,
                                      -0.0,
                                      1.0,
                                      1.0,
                                      std::bit_cast<double>(uint64_t{0x7ff0000000000002}),
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::bit_cast<double>(uint64_t{0x0000000000000001}),
                                      std::bit_cast<double>(~uint64_t{0}),
                                      std::bit_cast<double>(uint64_t{0x8000000000000000}),
                                      123456.789,
                                      123456.790,
                                      1e300,
                                      1e-300};
  std::vector<Sample> samples;
  for (size_t i = 0; i < values.size(); ++i) {
    samples.push_back({-5000 + static_cast<int64_t>(i * i) * 1000, values[i]});
  }
  ASSERT_EQ(f.write(cpu(), samples).accepted, samples.size());
  ASSERT_GT(f.count_keys("W", Family::kTsLog), 0u);
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), samples));
}

TEST(TsStore, RecordsInTheOlderRawValueCodingStillReplay) {
  StoreFixture f;
  const std::vector<Sample> first = {{1000, 1.5}, {2000, 2.5}};
  ASSERT_EQ(f.write(cpu(), first).accepted, 2u);  // registers the series, record 0
  // Record 1 as builds before the compact value coding wrote it: entry count first, then the
  // series id, the sample count, and per sample a zigzag varint delta and 8 raw value bytes.
  std::string record = "\x01";
  put_u64_be(cpu().series_id(), &record);
  record.push_back('\x02');
  const std::vector<Sample> second = {{3000, -7.25}, {4000, std::nan("")}};
  int64_t previous = 0;
  for (const Sample& s : second) {
    put_varint(zigzag(s.timestamp_ms - previous), &record);
    previous = s.timestamp_ms;
    const auto bits = std::bit_cast<uint64_t>(s.value);
    record.append(reinterpret_cast<const char*>(&bits), 8);
  }
  WriteBatch batch;
  batch.put(Family::kTsLog, ts_keys::wal(1), record);
  ASSERT_TRUE(f.engine().commit_sync(std::move(batch)).is_ok());
  f.reopen();
  EXPECT_TRUE(
      same_samples(f.read(cpu()), {{1000, 1.5}, {2000, 2.5}, {3000, -7.25}, {4000, std::nan("")}}));
}

TEST(TsStore, SamplesOlderThanTheOpenBlockAreRejectedPerItem) {
  TsStoreOptions options;
  options.block_duration_ms = 1000;
  StoreFixture f(options);
  // A new series takes samples of any block; the open block is then [6000, 7000).
  EXPECT_EQ(f.write(cpu(), {{5000, 1}, {6100, 5}, {4100, 0}}).accepted, 3u);
  auto result = f.write(cpu(), {{6500, 3}, {5999, 2}, {3000, 4}, {7000, 6}});
  EXPECT_EQ(result.accepted, 2u);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].sample, 1u);
  EXPECT_EQ(result.errors[0].status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.errors[0].status.message().find("older than the series' open time block"),
            std::string::npos);
  EXPECT_EQ(result.errors[1].sample, 2u);
  // The open block is now [7000, 8000), after a restart as well.
  f.reopen();
  result = f.write(cpu(), {{6600, 1}, {7050, 2}});
  EXPECT_EQ(result.accepted, 1u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_TRUE(same_samples(
      f.read(cpu()),
      std::vector<Sample>{{4100, 0}, {5000, 1}, {6100, 5}, {6500, 3}, {7000, 6}, {7050, 2}}));
}

TEST(TsStore, ASeriesNamedBySeveralItemsOfOneCallIsStoredOnceInTimeOrder) {
  TsStoreOptions options;
  options.block_duration_ms = 1000;
  StoreFixture f(options);
  const ts::Labels mem = labels_of({{"__name__", "mem"}, {"host", "a"}});
  EXPECT_EQ(f.write(cpu(), {{6000, 1}}).accepted, 1u);       // the open block is [6000, 7000)
  const std::vector<Sample> first = {{6000, 2}, {6400, 3}};  // the block's first ms is accepted
  const std::vector<Sample> other = {{10, 9}};
  const std::vector<Sample> second = {{6300, 4}, {5999, 5}, {6200, 6}, {6400, 7}};
  const std::vector<Sample> third = {{6100, 8}};
  const TsStore::SeriesWrite items[] = {{&cpu(), first, {}, 0},
                                        {&mem, other, {}, 0},
                                        {&cpu(), second, {}, 0},
                                        {&cpu(), third, {}, 0}};
  TsStore::WriteResult result = f.write_all(items);
  EXPECT_EQ(result.accepted, 7u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].series, 2u);
  EXPECT_EQ(result.errors[0].sample, 1u);
  EXPECT_EQ(f.store().stats().wal_records, 2u);
  std::vector<Sample> expected = {{6000, 1}, {6000, 2}, {6400, 3}, {6300, 4},
                                  {6200, 6}, {6400, 7}, {6100, 8}};
  ts::sort_and_resolve(&expected);
  EXPECT_TRUE(same_samples(f.read(cpu()), expected));
  EXPECT_TRUE(same_samples(f.read(mem), other));
  // Replay rebuilds the same heads from the log.
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(cpu()), expected));
  EXPECT_TRUE(same_samples(f.read(mem), other));
}

TEST(TsStore, RetentionRejectsOldSamplesAndDropsWholeBlocks) {
  TsStoreOptions options;
  options.block_duration_ms = 1000;
  options.retention_ms = 2500;
  options.head_samples_max = 5;
  StoreFixture f(options);
  f.clock().now_ms = 3000;
  const ts::Labels other = labels_of({{"__name__", "mem"}});
  for (int64_t block = 1; block <= 3; ++block) {
    f.write(cpu(), regular(block * 1000, 100, 10));
    f.write(other, regular(block * 1000, 100, 10));
  }
  ASSERT_TRUE(f.store().seal_all().is_ok());
  auto too_old = f.write(cpu(), {{400, 1}});
  ASSERT_EQ(too_old.errors.size(), 1u);
  EXPECT_NE(too_old.errors[0].status.message().find("retention"), std::string::npos);
  size_t block1 = f.count_keys(ts_keys::block_prefix(1));
  EXPECT_GT(block1, 0u);

  f.clock().now_ms = 4600;  // blocks before 2 end before now - retention
  ASSERT_TRUE(f.store().enforce_retention().is_ok());
  EXPECT_EQ(f.count_keys(ts_keys::block_prefix(1)), 0u);
  EXPECT_GT(f.count_keys(ts_keys::block_prefix(2)), 0u);
  EXPECT_GT(f.count_keys(ts_keys::block_prefix(3)), 0u);
  EXPECT_TRUE(same_samples(f.read(cpu()), [] {
    auto v = regular(3000, 100, 10);
    v.insert(v.begin(), {{2100, 1},
                         {2200, 2},
                         {2300, 3},
                         {2400, 4},
                         {2500, 5},
                         {2600, 6},
                         {2700, 7},
                         {2800, 8},
                         {2900, 9}});
    return v;
  }()));
  f.reopen();
  EXPECT_EQ(f.count_keys(ts_keys::block_prefix(1)), 0u);
  EXPECT_EQ(f.read(cpu(), 1000, 1999).size(), 0u);
}

// The write's one error: item `series` refused whole as a hash collision.
void expect_collision_refused(const TsStore::WriteResult& result, uint32_t series) {
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].series, series);
  EXPECT_EQ(result.errors[0].sample, TsStore::kWholeSeries);
  EXPECT_EQ(result.errors[0].status.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(result.errors[0].status.message().find("collision"), std::string::npos);
}

TEST(TsStore, AHashCollisionRefusesTheSecondLabelSetInsteadOfMergingIt) {
  StoreFixture f;
  // Pretend another label set already owns cpu()'s id (with a ref the store has not given out).
  const ts::Labels squatter = labels_of({{"__name__", "squatter"}});
  const uint32_t squatter_ref = 1000;
  WriteBatch batch;
  batch.put(Family::kTs, ts_keys::series(cpu().series_id()), std::string("\0\0\x03\xe8", 4));
  batch.put(Family::kTs, ts_keys::series_by_ref(squatter_ref), squatter.encode());
  ASSERT_TRUE(f.engine().commit_sync(std::move(batch)).is_ok());

  const ts::Labels fine = labels_of({{"__name__", "fine"}});
  std::vector<Sample> one = {{1, 1}};
  TsStore::SeriesWrite items[] = {{&cpu(), one, {}, 0}, {&fine, one, {}, 0}};
  auto result = f.write_all(items);
  EXPECT_EQ(result.accepted, 1u);
  expect_collision_refused(result, 0);
  EXPECT_TRUE(f.read(cpu()).empty());
  auto found = f.store().find_series(cpu());
  ASSERT_TRUE(found.is_ok());
  EXPECT_FALSE(found->has_value());
  auto owner = f.store().series_labels(squatter_ref);
  ASSERT_TRUE(owner.is_ok());
  EXPECT_EQ(*owner, squatter);
  EXPECT_EQ(f.read(fine).size(), 1u);
}

// Two label sets of one id in the same write, neither stored before: the first takes the id, the
// second is refused (the caller's precomputed id stands in for a 64-bit hash collision).
TEST(TsStore, AHashCollisionWithinOneWriteRefusesTheSecondLabelSet) {
  StoreFixture f;
  const ts::Labels first = labels_of({{"__name__", "first"}});
  const ts::Labels second = labels_of({{"__name__", "second"}});
  const std::string first_canonical = first.encode();
  const std::string second_canonical = second.encode();
  const uint64_t id = first.series_id();
  std::vector<Sample> one = {{1, 1}};
  std::vector<Sample> two = {{2, 2}};
  std::vector<Sample> three = {{3, 3}};
  TsStore::SeriesWrite items[] = {{&first, one, first_canonical, id},
                                  {&second, three, second_canonical, id},
                                  {&first, two, first_canonical, id}};
  auto result = f.write_all(items);
  EXPECT_EQ(result.accepted, 2u);
  expect_collision_refused(result, 1);
  EXPECT_EQ(f.read(first).size(), 2u);
  auto found = f.store().find_series(second);
  ASSERT_TRUE(found.is_ok());
  EXPECT_FALSE(found->has_value());
  f.reopen();
  EXPECT_EQ(f.read(first).size(), 2u);
}

// Items that give their ids are looked up on disk in one batch (TsStore::series_not_on_disk):
// after a reopen, series stored before are found there and written to under their own refs,
// beside a series new in the same write, and a label set colliding with a stored one's id is
// still refused.
TEST(TsStore, AWriteByIdFindsTheSeriesOnDiskBesideNewOnes) {
  StoreFixture f;
  const ts::Labels a = labels_of({{"__name__", "a"}});
  const ts::Labels b = labels_of({{"__name__", "b"}});
  const ts::Labels c = labels_of({{"__name__", "c"}});
  const ts::Labels squatter = labels_of({{"__name__", "squatter"}});
  const std::string a_canonical = a.encode();
  const std::string b_canonical = b.encode();
  const std::string c_canonical = c.encode();
  const std::string squatter_canonical = squatter.encode();
  const std::vector<Sample> first = {{1000, 1}};
  const std::vector<Sample> second = {{2000, 2}};
  TsStore::SeriesWrite before[] = {{&a, first, a_canonical, a.series_id()},
                                   {&b, first, b_canonical, b.series_id()}};
  EXPECT_EQ(f.write_all(before).accepted, 2u);
  auto a_ref = f.store().find_series(a);
  auto b_ref = f.store().find_series(b);
  ASSERT_TRUE(a_ref.is_ok() && a_ref->has_value() && b_ref.is_ok() && b_ref->has_value());

  ASSERT_TRUE(f.store().seal_all().is_ok());  // as meldd's clean stop: nothing left to replay
  f.reopen();
  EXPECT_EQ(f.store().stats().series_in_memory, 0u);
  TsStore::SeriesWrite after[] = {{&a, second, a_canonical, a.series_id()},
                                  {&c, second, c_canonical, c.series_id()},
                                  {&b, second, b_canonical, b.series_id()},
                                  {&squatter, second, squatter_canonical, a.series_id()}};
  auto result = f.write_all(after);
  EXPECT_EQ(result.accepted, 3u);
  expect_collision_refused(result, 3);
  EXPECT_EQ(f.store().stats().series_in_memory, 3u);
  EXPECT_EQ(f.store().find_series(a).value(), *a_ref);
  EXPECT_EQ(f.store().find_series(b).value(), *b_ref);
  EXPECT_TRUE(same_samples(f.read(a), {{1000, 1}, {2000, 2}}));
  EXPECT_TRUE(same_samples(f.read(b), {{1000, 1}, {2000, 2}}));
  EXPECT_TRUE(same_samples(f.read(c), second));
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(a), {{1000, 1}, {2000, 2}}));
  EXPECT_TRUE(same_samples(f.read(c), second));
}

// A failed write-ahead commit leaves in memory what never reached the disk (a new series, its
// samples): the store refuses writes from then on, and opens again on what is durable.
TEST(TsStore, AFailedWriteAheadCommitRefusesWritesUntilReopened) {
  StoreFixture f;
  const ts::Labels fresh = labels_of({{"__name__", "fresh"}});
  f.faults().fail_next_groups(1);
  Pending first = write_async(f.store(), fresh, {{1000, 1}});
  ASSERT_TRUE(first.result.is_ok());
  EXPECT_EQ(first.durable.get().code(), StatusCode::kIoError);
  Pending second = write_async(f.store(), fresh, {{2000, 2}});
  EXPECT_EQ(second.result.status().code(), StatusCode::kIoError);
  EXPECT_NE(second.result.status().message().find("write-ahead commit failed"), std::string::npos)
      << second.result.status().to_string();

  f.reopen();
  EXPECT_TRUE(f.read(fresh).empty());
  f.write(fresh, {{3000, 3}});
  f.reopen();
  EXPECT_TRUE(same_samples(f.read(fresh), {{3000, 3}}));
}

// Writes in flight behind a record that fails, sent before the store learns of it: each record
// that names a series whose creating record is unconfirmed carries its registry and index
// again, so a later record that commits never names an unknown series.
TEST(TsStore, ARecordBehindAFailedOneCarriesTheSeriesItCreated) {
  TempDir dir;
  testing::HeldExecutor held;
  auto faults = std::make_shared<CommitFaults>();
  Options options;
  options.dir = dir.sub("db");
  options.sync = false;
  options.commit_faults = faults;
  auto engine = Engine::open(options, &held);
  ASSERT_TRUE(engine.is_ok());
  TestClock clock;
  auto store = TsStore::open(**engine, clock, TsStoreOptions{});
  ASSERT_TRUE(store.is_ok());
  const ts::Labels fresh = labels_of({{"__name__", "fresh"}, {"job", "a"}});

  faults->fail_next_groups(1);
  Pending first = write_async(**store, fresh, {{1000, 1}});
  ASSERT_TRUE(first.result.is_ok());
  // The first record's group has failed; its callback waits in the executor.
  while ((*engine)->stats().failed_groups == 0) std::this_thread::yield();
  Pending second = write_async(**store, fresh, {{2000, 2}});
  ASSERT_TRUE(second.result.is_ok());
  held.run_until([&] {
    return second.durable.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  });
  EXPECT_FALSE(first.durable.get().is_ok());
  EXPECT_TRUE(second.durable.get().is_ok());
  store->reset();
  (*engine)->close();
  engine->reset();

  // Opening replays the second record, which names the series: its registry must be there.
  InlineExecutor executor;
  options.commit_faults = nullptr;
  auto again = Engine::open(options, &executor);
  ASSERT_TRUE(again.is_ok());
  auto reopened = TsStore::open(**again, clock, TsStoreOptions{});
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
  auto ref = (*reopened)->find_series(fresh);
  ASSERT_TRUE(ref.is_ok());
  ASSERT_TRUE(ref->has_value());
  std::vector<uint64_t> refs;
  ASSERT_TRUE((*reopened)->postings("job", "a", 10, &refs).is_ok());
  EXPECT_EQ(refs, std::vector<uint64_t>{**ref});
  std::vector<Sample> samples;
  bool more = false;
  ASSERT_TRUE((*reopened)->samples(**ref, 0, INT64_MAX, SIZE_MAX, &samples, &more).is_ok());
  EXPECT_TRUE(same_samples(samples, {{2000, 2}}));
  reopened->reset();
  (*again)->close();
}

// A head that fills up inside the failing write is sealed before the failure is known: the seal
// carries the series' registry, and the next ref given out after reopening skips its ref. One
// batch per commit group: the record's group fails alone and the seal's, queued after it, commits
// (in a shared group the seal would fail with the record, and nothing of the series would stay).
TEST(TsStore, ASealOfASeriesWhoseRecordFailedKeepsItsRefTaken) {
  TsStoreOptions options;
  options.head_samples_max = 8;
  StoreFixture f(options, /*max_group_batches=*/1);
  const ts::Labels fresh = labels_of({{"__name__", "fresh"}});
  const std::vector<Sample> written = regular(1000, 1000, 20);
  f.faults().fail_next_groups(1);
  Pending first = write_async(f.store(), fresh, written);
  ASSERT_TRUE(first.result.is_ok());
  EXPECT_FALSE(first.durable.get().is_ok());
  EXPECT_FALSE(f.store().wait_for_seals().is_ok());  // the failed record poisoned the store

  f.reopen();
  auto fresh_ref = f.store().find_series(fresh);
  ASSERT_TRUE(fresh_ref.is_ok());
  ASSERT_TRUE(fresh_ref->has_value());
  const std::vector<Sample> sealed = f.read(fresh);
  EXPECT_FALSE(sealed.empty());
  for (const Sample& sample : sealed) {
    EXPECT_TRUE(std::any_of(written.begin(), written.end(),
                            [&](const Sample& w) { return ts::identical(w, sample); }));
  }
  const ts::Labels later = labels_of({{"__name__", "later"}});
  f.write(later, {{5000, 5}});
  auto later_ref = f.store().find_series(later);
  ASSERT_TRUE(later_ref.is_ok());
  ASSERT_TRUE(later_ref->has_value());
  EXPECT_NE(**later_ref, **fresh_ref);
  EXPECT_TRUE(same_samples(f.read(later), {{5000, 5}}));
  EXPECT_TRUE(same_samples(f.read(fresh), sealed));
}

// Writes of three series, some of them late, with commit groups failing at random (a record, a
// seal or maintenance: whichever group comes next) and reopens at random: every store opens,
// every acknowledged sample is read back after the last reopen, and nothing is read that was
// never written.
RC_GTEST_PROP(TsStore, AcknowledgedSamplesSurviveFailedCommitsAndReopens, ()) {
  TsStoreOptions options;
  options.head_samples_max = *rc::gen::inRange<size_t>(4, 40);
  StoreFixture f(options);
  const ts::Labels series[] = {labels_of({{"__name__", "a"}}),
                               labels_of({{"__name__", "b"}, {"x", "1"}}),
                               labels_of({{"__name__", "c"}, {"x", "2"}})};
  std::map<int, std::map<int64_t, double>> acked, written;
  std::map<int, int64_t> next_ms;
  const int writes = *rc::gen::inRange(1, 30);
  for (int w = 0; w < writes; ++w) {
    if (*rc::gen::inRange(0, 4) == 0) f.faults().fail_next_groups(1);
    std::vector<std::vector<Sample>> samples;
    std::vector<TsStore::SeriesWrite> items;
    std::vector<int> which;
    for (int k = 0; k < 3; ++k) {
      if (!*rc::gen::arbitrary<bool>()) continue;
      std::vector<Sample>& mine = samples.emplace_back();
      const int n = *rc::gen::inRange(1, 30);
      for (int i = 0; i < n; ++i) {
        // Mostly in order, sometimes late (inside the open block: one week from 0).
        const bool late = next_ms[k] > 0 && *rc::gen::inRange(0, 5) == 0;
        const int64_t ms = late ? *rc::gen::inRange<int64_t>(1, next_ms[k]) : (next_ms[k] += 1000);
        mine.push_back({ms, static_cast<double>(k * 1000000 + ms)});
      }
      which.push_back(k);
    }
    for (size_t i = 0; i < which.size(); ++i) {
      items.push_back({&series[which[i]], samples[i], {}, 0});
    }
    if (items.empty()) continue;
    Pending pending = write_async(f.store(), items);
    if (!pending.result.is_ok()) {  // refused after a failure: the store must be reopened
      f.reopen();
      continue;
    }
    RC_ASSERT(pending.result->errors.empty());
    for (size_t i = 0; i < which.size(); ++i) {
      for (const Sample& sample : samples[i]) written[which[i]][sample.timestamp_ms] = sample.value;
    }
    if (pending.durable.get().is_ok()) {
      for (size_t i = 0; i < which.size(); ++i) {
        for (const Sample& sample : samples[i]) acked[which[i]][sample.timestamp_ms] = sample.value;
      }
    }
    if (*rc::gen::inRange(0, 8) == 0) f.reopen();
  }
  f.reopen();
  for (int k = 0; k < 3; ++k) {
    std::map<int64_t, double> read;
    for (const Sample& sample : f.read(series[k])) read[sample.timestamp_ms] = sample.value;
    for (const auto& [ms, value] : acked[k]) {
      RC_ASSERT(read.contains(ms));
      RC_ASSERT(read[ms] == value);
    }
    for (const auto& [ms, value] : read) RC_ASSERT(written[k].contains(ms));
  }
}

TEST(TsStore, AHintNamesTheSeriesForItsOwnStoreOnly) {
  StoreFixture a;
  StoreFixture b;
  const std::string canonical = cpu().encode();
  TsStore::SeriesHint hint;
  const std::vector<Sample> first = {{1000, 1.0}};
  const std::vector<Sample> second = {{2000, 2.0}};
  const std::vector<Sample> third = {{3000, 3.0}};
  TsStore::SeriesWrite item{&cpu(), first, canonical, cpu().series_id(), &hint};
  EXPECT_EQ(a.write_all({&item, 1}).accepted, 1u);  // fills the hint
  item.samples = second;
  EXPECT_EQ(a.write_all({&item, 1}).accepted, 1u);  // takes it
  // Store b did not fill the hint: it finds (here: creates) its own series.
  item.samples = third;
  EXPECT_EQ(b.write_all({&item, 1}).accepted, 1u);
  EXPECT_TRUE(same_samples(a.read(cpu()), {{1000, 1.0}, {2000, 2.0}}));
  EXPECT_TRUE(same_samples(b.read(cpu()), third));
  // Nor does a store opened again on a's data, wherever it sits in memory.
  a.reopen();
  item.samples = third;
  EXPECT_EQ(a.write_all({&item, 1}).accepted, 1u);
  EXPECT_TRUE(same_samples(a.read(cpu()), {{1000, 1.0}, {2000, 2.0}, {3000, 3.0}}));
}

TEST(TsStore, LimitsGiveClearPerItemAndIndexErrors) {
  TsStoreOptions options;
  options.series_max = 2;
  StoreFixture f(options);
  const ts::Labels a = labels_of({{"__name__", "a"}});
  const ts::Labels b = labels_of({{"__name__", "b"}});
  const ts::Labels c = labels_of({{"__name__", "c"}});
  std::vector<Sample> samples = regular(0, 1, 10);
  std::vector<Sample> none;
  TsStore::SeriesWrite items[] = {
      {&a, samples, {}, 0}, {&b, samples, {}, 0}, {&c, samples, {}, 0}, {&a, none, {}, 0}};
  auto result = f.write_all(items);
  EXPECT_EQ(result.accepted, 20u);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].series, 2u);
  EXPECT_EQ(result.errors[0].status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(result.errors[1].series, 3u);
  EXPECT_EQ(result.errors[1].status.code(), StatusCode::kInvalidArgument);

  std::vector<uint64_t> ids;
  EXPECT_EQ(f.store().all_series(1, &ids).code(), StatusCode::kResourceExhausted);
}

TEST(TsStore, AStoredSeriesLoadedBackFromDiskCountsAgainstSeriesMax) {
  TsStoreOptions options;
  options.series_max = 2;
  StoreFixture f(options);
  const ts::Labels a = labels_of({{"__name__", "a"}});
  const ts::Labels b = labels_of({{"__name__", "b"}});
  const ts::Labels c = labels_of({{"__name__", "c"}});
  EXPECT_EQ(f.write(a, {{1, 1}}).accepted, 1u);
  EXPECT_EQ(f.write(b, {{1, 1}}).accepted, 1u);
  ASSERT_TRUE(f.store().seal_all().is_ok());
  f.reopen();  // nothing to replay: no series in memory
  EXPECT_EQ(f.store().stats().series_in_memory, 0u);
  EXPECT_EQ(f.write(c, {{2, 2}}).accepted, 1u);  // new
  EXPECT_EQ(f.write(a, {{2, 2}}).accepted, 1u);  // loaded back from disk
  auto refused = f.write(b, {{2, 2}});
  EXPECT_EQ(refused.accepted, 0u);
  ASSERT_EQ(refused.errors.size(), 1u);
  EXPECT_EQ(refused.errors[0].status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(f.store().stats().series_in_memory, 2u);
  // The refused series keeps what it had.
  EXPECT_EQ(f.read(b).size(), 1u);
  EXPECT_EQ(f.read(a).size(), 2u);
}

TEST(TsStore, NewSeriesAreRefusedOnceEveryRefIsGivenOut) {
  StoreFixture f;
  WriteBatch batch;
  batch.put(Family::kTs, ts_keys::next_ref(), std::string("\xff\xff\xff\xfe", 4));
  ASSERT_TRUE(f.engine().commit_sync(std::move(batch)).is_ok());
  f.reopen();
  const ts::Labels a = labels_of({{"__name__", "a"}});
  const ts::Labels b = labels_of({{"__name__", "b"}});
  std::vector<Sample> one = {{1, 1}};
  TsStore::SeriesWrite items[] = {{&a, one, {}, 0}, {&b, one, {}, 0}};
  auto result = f.write_all(items);
  EXPECT_EQ(result.accepted, 1u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].series, 1u);
  EXPECT_EQ(result.errors[0].status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ref_of(f.store(), a), 0xfffffffeu);
  EXPECT_EQ(f.read(a).size(), 1u);
  // A known series still takes samples.
  EXPECT_EQ(f.write(a, {{2, 2}}).accepted, 1u);
}

// Series created by one write share labels: each posting and each distinct label value is
// written once, and the postings of a label list its series in ref order.
TEST(TsStore, OneWriteOfManySeriesIndexesEachLabelOnce) {
  StoreFixture f;
  std::vector<ts::Labels> labels;
  for (int i = 0; i < 50; ++i) {
    labels.push_back(labels_of({{"__name__", i % 2 == 0 ? "cpu" : "mem"},
                                {"host", "h" + std::to_string(i / 10)},
                                {"pod", "p" + std::to_string(i)}}));
  }
  const std::vector<Sample> samples = {{1, 1}};
  std::vector<TsStore::SeriesWrite> items;
  for (const ts::Labels& l : labels) items.push_back({&l, samples, {}, 0});
  EXPECT_EQ(f.write_all(items).accepted, 50u);
  f.reopen();
  EXPECT_EQ(f.count_keys("P"), 150u);           // 3 labels x 50 series
  EXPECT_EQ(f.count_keys("V"), 2u + 5u + 50u);  // cpu, mem; h0..h4; p0..p49
  EXPECT_EQ(f.count_keys("R"), 50u);
  EXPECT_EQ(f.count_keys("N"), 50u);
  std::vector<uint64_t> refs;
  ASSERT_TRUE(f.store().postings("host", "h1", 100, &refs).is_ok());
  EXPECT_EQ(refs, (std::vector<uint64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
  ASSERT_TRUE(f.store().postings("__name__", "mem", 100, &refs).is_ok());
  ASSERT_EQ(refs.size(), 25u);
  for (size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ(f.store().series_labels(refs[i]).value(), labels[2 * i + 1]);
  }
  std::vector<std::string> values;
  ASSERT_TRUE(f.store().label_values("host", 100, &values).is_ok());
  EXPECT_EQ(values, (std::vector<std::string>{"h0", "h1", "h2", "h3", "h4"}));
}

TEST(TsStore, PostingsAndLabelValuesIndexEverySeries) {
  StoreFixture f;
  const ts::Labels a = labels_of({{"__name__", "cpu"}, {"host", "a"}});
  const ts::Labels b = labels_of({{"__name__", "cpu"}, {"host", "b"}});
  const ts::Labels m = labels_of({{"__name__", "mem"}, {"host", "a"}});
  for (const ts::Labels* l : {&a, &b, &m}) f.write(*l, {{1, 1}});
  f.reopen();
  std::vector<uint64_t> ids;
  ASSERT_TRUE(f.store().postings("host", "a", 100, &ids).is_ok());
  // Refs are dense, in creation order.
  EXPECT_EQ(ref_of(f.store(), a), 0u);
  EXPECT_EQ(ref_of(f.store(), b), 1u);
  EXPECT_EQ(ref_of(f.store(), m), 2u);
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 2}));
  ASSERT_TRUE(f.store().postings("__name__", "cpu", 100, &ids).is_ok());
  EXPECT_EQ(ids.size(), 2u);
  ASSERT_TRUE(f.store().postings("host", "zz", 100, &ids).is_ok());
  EXPECT_TRUE(ids.empty());
  std::vector<std::string> values;
  ASSERT_TRUE(f.store().label_values("host", 100, &values).is_ok());
  EXPECT_EQ(values, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(f.store().label_values("__name__", 100, &values).is_ok());
  EXPECT_EQ(values, (std::vector<std::string>{"cpu", "mem"}));
  EXPECT_EQ(f.store().label_values("host", 1, &values).code(), StatusCode::kResourceExhausted);
  // A range of values: min and max included, nothing of other names.
  const ts::Labels c = labels_of({{"__name__", "cpu"}, {"host", "bb"}, {"hostname", "b"}});
  const ts::Labels d = labels_of({{"__name__", "cpu"}, {"host", "c"}});
  for (const ts::Labels* l : {&c, &d}) f.write(*l, {{1, 1}});
  ASSERT_TRUE(f.store().label_values("host", "b", "c", 100, &values).is_ok());
  EXPECT_EQ(values, (std::vector<std::string>{"b", "bb", "c"}));
  ASSERT_TRUE(f.store().label_values("host", "a\x01", "bb", 100, &values).is_ok());
  EXPECT_EQ(values, (std::vector<std::string>{"b", "bb"}));
  ASSERT_TRUE(f.store().label_values("host", "", "\xff", 100, &values).is_ok());
  EXPECT_EQ(values, (std::vector<std::string>{"a", "b", "bb", "c"}));
  ASSERT_TRUE(f.store().label_values("host", "c", "b", 100, &values).is_ok());
  EXPECT_TRUE(values.empty());
  EXPECT_EQ(f.store().label_values("host", "b", "c", 2, &values).code(),
            StatusCode::kResourceExhausted);
  ASSERT_TRUE(f.store().all_series(100, &ids).is_ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
  auto labels = f.store().series_labels(ref_of(f.store(), b));
  ASSERT_TRUE(labels.is_ok());
  EXPECT_EQ(*labels, b);
  EXPECT_EQ(f.store().series_labels(12345).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.store().series_labels(uint64_t{1} << 40).status().code(), StatusCode::kNotFound);
  auto unknown = f.store().find_series(labels_of({{"__name__", "nope"}}));
  ASSERT_TRUE(unknown.is_ok());
  EXPECT_FALSE(unknown->has_value());
}

TEST(TsStore, AMalformedLogRecordFailsOpenWithCorruption) {
  BareEngine bare;
  Engine& engine = *bare.engine;
  TestClock& clock = bare.clock;
  ASSERT_TRUE(TsStore::open(engine, clock, {}).is_ok());
  WriteBatch batch;
  batch.put(Family::kTsLog, ts_keys::wal(3), std::string("\x01\x00\x00", 3));
  ASSERT_TRUE(engine.commit_sync(std::move(batch)).is_ok());
  auto store = TsStore::open(engine, clock, {});
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
  EXPECT_NE(store.status().message().find("record 3"), std::string::npos);
}

TEST(TsStore, ACompactRecordWithAnImpossibleValueFailsOpenWithCorruption) {
  // Compact coding, one entry of series id 1, one sample at +1 ms whose value byte says 7 zero
  // bytes above 2 changed ones (9 in all), then a value cut short.
  const std::string id("\0\0\0\0\0\0\0\x01", 8);
  const std::string too_long = std::string("\0\x01", 2) + id + "\x01\x02\x72\xaa\xbb";
  const std::string cut_short = std::string("\0\x01", 2) + id + "\x01\x02\x03\xaa";
  for (const std::string& record : {too_long, cut_short}) {
    BareEngine bare;
    ASSERT_TRUE(TsStore::open(*bare.engine, bare.clock, {}).is_ok());
    WriteBatch batch;
    batch.put(Family::kTsLog, ts_keys::wal(0), record);
    ASSERT_TRUE(bare.engine->commit_sync(std::move(batch)).is_ok());
    auto store = TsStore::open(*bare.engine, bare.clock, {});
    EXPECT_EQ(store.status().code(), StatusCode::kCorruption) << store.status().to_string();
  }
}

TEST(TsStore, TheBlockDurationIsRecordedAtCreationAndAnotherOneIsRefusedAtOpen) {
  BareEngine bare;
  Engine& engine = *bare.engine;
  TestClock& clock = bare.clock;
  TsStoreOptions hour;
  hour.block_duration_ms = 3600 * 1000;
  TsStoreOptions two_hours = hour;
  two_hours.block_duration_ms = 2 * 3600 * 1000;
  {
    auto store = TsStore::open(engine, clock, hour);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    Pending written = write_async(**store, cpu(), regular(1000, 1000, 10));
    ASSERT_TRUE(written.result.is_ok());
    ASSERT_EQ(written.result->accepted, 10u);
    ASSERT_TRUE(written.durable.get().is_ok());
  }
  auto refused = TsStore::open(engine, clock, two_hours);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("blocks of 3600000 ms"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("7200000 ms"), std::string::npos);
  {
    auto store = TsStore::open(engine, clock, hour);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    std::vector<Sample> out;
    bool more = true;
    ASSERT_TRUE(
        (*store)->samples(ref_of(**store, cpu()), 0, 100000, SIZE_MAX, &out, &more).is_ok());
    EXPECT_TRUE(same_samples(out, regular(1000, 1000, 10)));
  }
}

TEST(TsStore, DataOfAnotherKeyLayoutIsRefusedAtOpenNotMisread) {
  BareEngine bare;
  Engine& engine = *bare.engine;
  TestClock& clock = bare.clock;
  {
    auto store = TsStore::open(engine, clock, {});
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  }
  auto version = engine.get(Family::kTs, ts_keys::format_version());
  ASSERT_TRUE(version.is_ok());
  ASSERT_TRUE(version->has_value());
  EXPECT_EQ(**version, std::string("\0\0\0\x02", 4));
  // Layout 1 had no version record; its registry held labels under 64-bit ids.
  WriteBatch legacy;
  legacy.del(Family::kTs, ts_keys::format_version());
  legacy.put(Family::kTs, ts_keys::series(cpu().series_id()), cpu().encode());
  ASSERT_TRUE(engine.commit_sync(std::move(legacy)).is_ok());
  auto old = TsStore::open(engine, clock, {});
  EXPECT_EQ(old.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(old.status().message().find("older MeldDB"), std::string::npos)
      << old.status().message();
  // A newer layout is refused too.
  WriteBatch newer;
  newer.put(Family::kTs, ts_keys::format_version(), std::string("\0\0\0\x03", 4));
  ASSERT_TRUE(engine.commit_sync(std::move(newer)).is_ok());
  auto future = TsStore::open(engine, clock, {});
  EXPECT_EQ(future.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(future.status().message().find("layout 3"), std::string::npos)
      << future.status().message();
  WriteBatch garbled;
  garbled.put(Family::kTs, ts_keys::format_version(), "x");
  ASSERT_TRUE(engine.commit_sync(std::move(garbled)).is_ok());
  EXPECT_EQ(TsStore::open(engine, clock, {}).status().code(), StatusCode::kCorruption);
}

TEST(TsStore, AMalformedBlockDurationRecordFailsOpenWithCorruption) {
  BareEngine bare;
  Engine& engine = *bare.engine;
  TestClock& clock = bare.clock;
  ASSERT_TRUE(TsStore::open(engine, clock, {}).is_ok());
  WriteBatch batch;
  batch.put(Family::kTs, ts_keys::block_duration(), "abc");
  ASSERT_TRUE(engine.commit_sync(std::move(batch)).is_ok());
  auto store = TsStore::open(engine, clock, {});
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
}

// Law: whatever the order, batching, head and late limits and restarts, the store returns what
// sort_and_resolve returns for every accepted sample. One engine serves every case (opening
// RocksDB costs a lot more than a case); each case has its own series and reopens only the
// store, which replays the log the engine holds, as after a crash.
RC_GTEST_PROP(TsStore, ReadsEqualSortAndResolveOfAllWritesAcrossSealsAndRestarts, ()) {
  static StoreFixture shared;
  static int case_number = 0;
  ++case_number;
  TsStoreOptions options;
  options.head_samples_max = *rc::gen::inRange<uint32_t>(1, 20);
  options.late_samples_max = *rc::gen::inRange<uint32_t>(1, 10);
  auto open_store = [&] {
    auto store = TsStore::open(shared.engine(), shared.clock(), options);
    MELD_ASSERT(store.is_ok(), store.status().to_string());
    return std::move(store).value();
  };
  std::unique_ptr<TsStore> store = open_store();
  const ts::Labels series[] = {
      labels_of({{"__name__", "x"}, {"case", std::to_string(case_number)}}),
      labels_of({{"__name__", "y"}, {"case", std::to_string(case_number)}})};
  std::map<int, std::vector<Sample>> written;
  int writes = *rc::gen::inRange(1, 12);
  for (int w = 0; w < writes; ++w) {
    std::vector<std::vector<Sample>> per(2);
    std::vector<TsStore::SeriesWrite> items;
    for (int s = 0; s < 2; ++s) {
      per[s] = *rc::gen::container<std::vector<Sample>>(rc::gen::build<Sample>(
          rc::gen::set(&Sample::timestamp_ms, rc::gen::inRange<int64_t>(0, 60)),
          rc::gen::set(&Sample::value, rc::gen::map(rc::gen::inRange(-3, 4), [](int v) {
            return static_cast<double>(v);
          }))));
      if (per[s].empty()) continue;
      items.push_back({&series[s], per[s], {}, 0});
      written[s].insert(written[s].end(), per[s].begin(), per[s].end());
    }
    if (!items.empty()) {
      auto result = store->write(items, [](Status) {});
      RC_ASSERT(result.is_ok());
      RC_ASSERT(result->errors.empty());
      RC_ASSERT(shared.engine().commit_sync(WriteBatch()).is_ok());  // durable
    }
    if (*rc::gen::inRange(0, 4) == 0) {
      store.reset();  // a restart: the old store is gone before the new one opens
      store = open_store();
    }
    if (*rc::gen::inRange(0, 5) == 0) RC_ASSERT(store->seal_all().is_ok());
  }
  for (int s = 0; s < 2; ++s) {
    ts::sort_and_resolve(&written[s]);
    std::vector<Sample> out;
    bool more = true;
    auto found = store->find_series(series[s]);
    RC_ASSERT(found.is_ok());
    if (!found->has_value()) {  // never written
      RC_ASSERT(written[s].empty());
      continue;
    }
    const uint64_t ref = **found;
    RC_ASSERT(store->samples(ref, 0, 60, SIZE_MAX, &out, &more).is_ok());
    RC_ASSERT(same_samples(out, written[s]));
    RC_ASSERT(!more);
    // A limit keeps the earliest samples, whatever mix of head and late samples they are.
    size_t limit = *rc::gen::inRange<size_t>(0, written[s].size() + 2);
    RC_ASSERT(store->samples(ref, 0, 60, limit, &out, &more).is_ok());
    size_t kept = std::min(limit, written[s].size());
    RC_ASSERT(
        same_samples(out, std::vector<Sample>(written[s].begin(), written[s].begin() + kept)));
    RC_ASSERT(more == (limit < written[s].size()));
  }
  RC_ASSERT(store->seal_all().is_ok());  // the next case replays nothing of this one
}

}  // namespace
}  // namespace meld::storage
