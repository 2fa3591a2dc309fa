#include "client/client.h"

#include <gtest/gtest.h>

#include "tests/client/test_ports.h"

namespace meld::client {
namespace {

TEST(StatusFromRpcFailure, RemoteCodeAndMessageComeBack) {
  Status s = status_from_rpc_failure(
      "remote exception: invalid_argument: key is 5000 bytes, limit 4096", false, "a:1");
  EXPECT_EQ(s, Status::invalid_argument("key is 5000 bytes, limit 4096"));
}

TEST(StatusFromRpcFailure, EveryCodeNameMapsToItsCode) {
  for (int i = static_cast<int>(StatusCode::kNotFound);
       i <= static_cast<int>(StatusCode::kInternal); ++i) {
    auto code = static_cast<StatusCode>(i);
    std::string description = "remote exception: " + std::string(status_code_name(code)) + ": m";
    EXPECT_EQ(status_from_rpc_failure(description, false, "a:1"), Status(code, "m"));
  }
}

TEST(StatusFromRpcFailure, MessageKeepsLaterColons) {
  EXPECT_EQ(status_from_rpc_failure("remote exception: not_found: key 'a: b'", false, "a:1"),
            Status::not_found("key 'a: b'"));
}

TEST(StatusFromRpcFailure, RemoteCodeWinsOverDisconnectedType) {
  EXPECT_EQ(status_from_rpc_failure("remote exception: unavailable: shutting down", true, "a:1"),
            Status::unavailable("shutting down"));
}

TEST(StatusFromRpcFailure, UnknownOrMissingCodeIsInternalWithTheWholeDescription) {
  for (const char* d : {"remote exception: frobnicated: x", "remote exception: ok: x",
                        "remote exception: Method not implemented.", "something broke"}) {
    EXPECT_EQ(status_from_rpc_failure(d, false, "a:1"), Status::internal(d));
  }
}

TEST(StatusFromRpcFailure, DisconnectionIsUnavailableNamingTheAddress) {
  EXPECT_EQ(status_from_rpc_failure("Peer disconnected.", true, "10.0.0.1:7400"),
            Status::unavailable("lost connection to MeldDB at 10.0.0.1:7400: peer disconnected"));
  EXPECT_EQ(status_from_rpc_failure("remote exception: Peer disconnected.", true, "h:1"),
            Status::unavailable("lost connection to MeldDB at h:1: remote exception: Peer "
                                "disconnected"));
}

TEST(ClientConnect, RefusedConnectionIsUnavailableNamingTheAddress) {
  std::string address = testing::refused_address();
  auto client = Client::connect(Options{.address = address, .timeout_ms = 5000});
  ASSERT_FALSE(client.is_ok());
  EXPECT_EQ(client.status(),
            Status::unavailable("cannot reach MeldDB at " + address + ": connection refused"));
}

TEST(ClientConnect, SilentPeerIsUnavailableAfterTheTimeout) {
  testing::LocalSocket silent(true);
  ASSERT_NE(silent.port(), 0);
  auto client = Client::connect(Options{.address = silent.address(), .timeout_ms = 200});
  ASSERT_FALSE(client.is_ok());
  EXPECT_EQ(client.status(), Status::unavailable("cannot reach MeldDB at " + silent.address() +
                                                 ": no answer within 200 ms"));
}

TEST(ClientConnect, UnresolvableHostIsUnavailable) {
  auto client =
      Client::connect(Options{.address = "no-such-host.invalid:7400", .timeout_ms = 5000});
  ASSERT_FALSE(client.is_ok());
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(client.status().message().starts_with(
      "cannot reach MeldDB at no-such-host.invalid:7400: cannot resolve host"))
      << client.status().message();
}

TEST(ClientConnect, RejectsEmptyAddressAndNonPositiveTimeout) {
  EXPECT_EQ(Client::connect(Options{.address = ""}).status(),
            Status::invalid_argument("address is empty"));
  EXPECT_EQ(Client::connect(Options{.address = "127.0.0.1:1", .timeout_ms = 0}).status(),
            Status::invalid_argument("timeout_ms must be positive, got 0"));
}

}  // namespace
}  // namespace meld::client
