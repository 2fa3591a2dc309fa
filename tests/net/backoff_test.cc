#include <gtest/gtest.h>

#include "base/rng.h"
#include "net/backoff.h"

namespace meld::net {
namespace {

TEST(Backoff, DelaysStayUnderACeilingThatDoublesUpToTheMaximum) {
  SeededRng rng(5);
  Backoff backoff(50, 1000);
  const int64_t ceilings_ms[] = {50, 100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t ceiling_ms : ceilings_ms) {
    int64_t delay_ms = backoff.next_delay_ms(rng);
    EXPECT_GE(delay_ms, 0);
    EXPECT_LE(delay_ms, ceiling_ms);
  }
}

TEST(Backoff, FullJitterSpreadsDelaysOverTheWholeRange) {
  SeededRng rng(6);
  int64_t lowest_ms = 5000;
  int64_t highest_ms = 0;
  for (int i = 0; i < 1000; ++i) {
    Backoff backoff(5000, 5000);
    int64_t delay_ms = backoff.next_delay_ms(rng);
    lowest_ms = std::min(lowest_ms, delay_ms);
    highest_ms = std::max(highest_ms, delay_ms);
  }
  EXPECT_LT(lowest_ms, 500);
  EXPECT_GT(highest_ms, 4500);
}

TEST(Backoff, ResetStartsFromTheInitialCeilingAgain) {
  SeededRng rng(7);
  Backoff backoff(10, 10000);
  for (int i = 0; i < 20; ++i) backoff.next_delay_ms(rng);
  backoff.reset();
  for (int i = 0; i < 100; ++i) {
    Backoff fresh = backoff;
    EXPECT_LE(fresh.next_delay_ms(rng), 10);
  }
}

}  // namespace
}  // namespace meld::net
