// The simulator as a whole: healthy builds pass, every deliberately broken build is caught, and a
// seed replays exactly.
#include <gtest/gtest.h>

#include <string>

#include "consensus/raft.h"
#include "tests/sim/lib/simulation.h"

namespace meld::sim {
namespace {

constexpr uint64_t kHealthySeeds = 300;
constexpr uint64_t kMutationSeedBudget = 1000;

TEST(Simulator, HealthyRaftHasNoViolations) {
  uint64_t chunked_snapshots = 0;
  for (uint64_t seed = 1; seed <= kHealthySeeds; ++seed) {
    SimOptions options;
    options.seed = seed;
    SimResult r = run_simulation(options);
    ASSERT_FALSE(r.violated()) << "seed " << seed << " (" << r.scenario << "): " << r.invariant
                               << ": " << r.detail;
    ASSERT_GT(r.history_ops, 0u) << "seed " << seed << " ran no client operation";
    chunked_snapshots += r.chunked_snapshots_installed;
  }
  // The invariants cover chunked snapshot transfer only if it happens: many snapshots must have
  // been assembled from several chunks, through the seeds' loss, duplication and reordering.
  EXPECT_GE(chunked_snapshots, 100u);
}

TEST(Simulator, SameSeedReplaysTheSameTrace) {
  for (uint64_t seed : {3, 17}) {
    SimOptions options;
    options.seed = seed;
    SimResult a = run_simulation(options);
    SimResult b = run_simulation(options);
    EXPECT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed;
    EXPECT_EQ(a.events, b.events) << "seed " << seed;
    options.seed = seed + 1;
    EXPECT_NE(run_simulation(options).trace_hash, a.trace_hash) << "seed " << seed;
  }
}

class MutationIsCaught : public ::testing::TestWithParam<consensus::Mutation> {};

TEST_P(MutationIsCaught, WithinTheSeedBudget) {
  for (uint64_t seed = 1; seed <= kMutationSeedBudget; ++seed) {
    SimOptions options;
    options.seed = seed;
    options.mutation = GetParam();
    if (run_simulation(options).violated()) return;
  }
  ADD_FAILURE() << consensus::mutation_name(GetParam()) << " not caught in " << kMutationSeedBudget
                << " seeds";
}

INSTANTIATE_TEST_SUITE_P(EveryMutation, MutationIsCaught,
                         ::testing::ValuesIn(consensus::all_mutations()),
                         [](const ::testing::TestParamInfo<consensus::Mutation>& info) {
                           std::string name(consensus::mutation_name(info.param));
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace meld::sim
