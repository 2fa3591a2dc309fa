#include "crdt/causal_context.h"

#include <gtest/gtest.h>

namespace meld::crdt {
namespace {

TEST(CausalContext, ContiguousDotsCompactIntoTheVector) {
  CausalContext cc;
  EXPECT_TRUE(cc.insert(Dot{7, 2}));
  EXPECT_TRUE(cc.insert(Dot{7, 3}));
  EXPECT_EQ(cc.cloud().size(), 2u);
  EXPECT_TRUE(cc.insert(Dot{7, 1}));
  EXPECT_TRUE(cc.cloud().empty());
  EXPECT_EQ(cc.vector().at(7), 3u);
}

TEST(CausalContext, InsertingAPresentDotReportsIt) {
  CausalContext cc;
  EXPECT_TRUE(cc.insert(Dot{1, 1}));
  EXPECT_FALSE(cc.insert(Dot{1, 1}));
  EXPECT_TRUE(cc.insert(Dot{1, 5}));
  EXPECT_FALSE(cc.insert(Dot{1, 5}));
}

TEST(CausalContext, NextDotIsPastTheLargestSeen) {
  CausalContext cc;
  EXPECT_EQ(cc.next_dot(4), (Dot{4, 1}));
  ASSERT_TRUE(cc.insert(Dot{4, 1}));
  ASSERT_TRUE(cc.insert(Dot{4, 9}));
  EXPECT_EQ(cc.next_dot(4), (Dot{4, 10}));
  EXPECT_EQ(cc.next_dot(3), (Dot{3, 1}));
}

TEST(CausalContext, MergeClosesGapsAcrossSides) {
  CausalContext a;
  CausalContext b;
  ASSERT_TRUE(a.insert(Dot{2, 1}));
  ASSERT_TRUE(a.insert(Dot{2, 3}));
  ASSERT_TRUE(b.insert(Dot{2, 2}));
  a.merge(b);
  EXPECT_TRUE(a.cloud().empty());
  EXPECT_EQ(a.vector().at(2), 3u);
}

TEST(CausalContext, FromPartsRejectsUncompactedClouds) {
  EXPECT_FALSE(CausalContext::from_parts({{1, 2}}, {Dot{1, 3}}).is_ok());
  EXPECT_FALSE(CausalContext::from_parts({{1, 2}}, {Dot{1, 1}}).is_ok());
  EXPECT_FALSE(CausalContext::from_parts({{1, 0}}, {}).is_ok());
  EXPECT_TRUE(CausalContext::from_parts({{1, 2}}, {Dot{1, 4}}).is_ok());
}

}  // namespace
}  // namespace meld::crdt
