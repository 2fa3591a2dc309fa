// TsStore::series_labels on registry entries read from disk: the store's own encodings come back
// as written, a damaged one is corruption (never a crash), an unknown ref not_found.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/clock.h"
#include "storage/engine.h"
#include "storage/ts_store.h"
#include "tests/storage/temp_dir.h"
#include "timeseries/labels.h"

namespace meld::storage {
namespace {

using testing::TempDir;

class RegistryOnDisk : public ::testing::Test {
 protected:
  RegistryOnDisk() {
    Options options;
    options.dir = tmp_.sub("db");
    options.sync = false;
    engine_ = Engine::open(options, &executor_).value();
    store_ = TsStore::open(*engine_, clock_, TsStoreOptions{}).value();
  }

  // Stores bytes as the labels of ref, as the registry keeps them ('N' ref).
  void put_labels(uint32_t ref, const std::string& bytes) {
    WriteBatch batch;
    batch.put(Family::kTs, ts_keys::series_by_ref(ref), bytes);
    ASSERT_TRUE(engine_->commit_sync(std::move(batch)).is_ok());
  }

  TempDir tmp_;
  InlineExecutor executor_;
  SystemClock clock_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<TsStore> store_;
};

TEST_F(RegistryOnDisk, StoredLabelsComeBackAsWritten) {
  const ts::Labels labels =
      ts::Labels::make_series({{"__name__", "cpu_usage_user"}, {"hostname", "host_1"}}).value();
  put_labels(7, labels.encode());
  auto read = store_->series_labels(7);
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(*read, labels);
  EXPECT_EQ(store_->series_labels(8).status().code(), StatusCode::kNotFound);
}

TEST_F(RegistryOnDisk, DamagedLabelsAreCorruption) {
  const std::string good =
      ts::Labels::make_series({{"__name__", "up"}, {"job", "a"}}).value().encode();
  const std::string damaged[] = {
      good.substr(0, good.size() - 1),  // truncated
      std::string("\0\0\0\x01"
                  "a\x7f\xff\xff\xff",
                  9),                                    // a length past the end
      good.substr(good.size() / 2) + good.substr(0, 1),  // shifted
  };
  uint32_t ref = 100;
  for (const std::string& bytes : damaged) {
    put_labels(ref, bytes);
    auto read = store_->series_labels(ref);
    EXPECT_EQ(read.status().code(), StatusCode::kCorruption) << read.status().to_string();
    ++ref;
  }
}

}  // namespace
}  // namespace meld::storage
