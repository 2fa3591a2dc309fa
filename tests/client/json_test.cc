#include "client/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace meld::client {
namespace {

TEST(JsonQuote, PassesPlainTextThrough) {
  EXPECT_EQ(json_quote("hello world"), "\"hello world\"");
}

TEST(JsonQuote, EscapesQuoteBackslashAndControlCharacters) {
  EXPECT_EQ(json_quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quote("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_quote(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(json_quote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonQuote, PassesValidUtf8Through) {
  EXPECT_EQ(json_quote("h\xc3\xa9llo"), "\"h\xc3\xa9llo\"");
  EXPECT_EQ(json_quote("\xe2\x82\xac \xf0\x9f\x98\x80"), "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(JsonQuote, EscapesEachByteOfInvalidUtf8) {
  EXPECT_EQ(json_quote("\xff"), R"("\u00ff")");
  EXPECT_EQ(json_quote("a\xc3"), R"("a\u00c3")");                              // truncated sequence
  EXPECT_EQ(json_quote("\xc3(x"), R"("\u00c3(x")");                            // bad continuation
  EXPECT_EQ(json_quote("\xc0\xaf"), R"("\u00c0\u00af")");                      // overlong '/'
  EXPECT_EQ(json_quote("\xed\xa0\x80"), R"("\u00ed\u00a0\u0080")");            // surrogate half
  EXPECT_EQ(json_quote("\xf4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");  // > U+10FFFF
}

TEST(JsonWriter, SeparatesMembersAndElementsWithCommas) {
  JsonWriter json;
  json.begin_object().key("a").number(int64_t{1}).key("list").begin_array();
  json.string("x").boolean(false).begin_object().end_object().begin_array().end_array();
  json.end_array().key("b").boolean(true).end_object();
  EXPECT_EQ(json.text(), R"({"a":1,"list":["x",false,{},[]],"b":true})");
}

TEST(JsonWriter, EscapesKeys) {
  JsonWriter json;
  json.begin_object().key("k\"\xff").string("").end_object();
  EXPECT_EQ(json.text(), R"({"k\"\u00ff":""})");
}

TEST(JsonWriter, WritesIntegerExtremes) {
  JsonWriter json;
  json.begin_array()
      .number(std::numeric_limits<int64_t>::min())
      .number(std::numeric_limits<uint64_t>::max())
      .end_array();
  EXPECT_EQ(json.text(), "[-9223372036854775808,18446744073709551615]");
}

TEST(JsonWriter, WritesNonFiniteDoublesAsStrings) {
  JsonWriter json;
  json.begin_array()
      .number(0.5)
      .number(std::nan(""))
      .number(std::numeric_limits<double>::infinity())
      .number(-std::numeric_limits<double>::infinity())
      .end_array();
  EXPECT_EQ(json.text(), R"([0.5,"NaN","+Inf","-Inf"])");
}

}  // namespace
}  // namespace meld::client
