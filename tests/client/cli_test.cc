#include "client/cli.h"

#include <gtest/gtest.h>

#include <sstream>

#include "tests/client/test_ports.h"

namespace meld::client {
namespace {

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun run(const std::vector<std::string>& args, const std::string& input = "",
           const std::string& default_address = "127.0.0.1:1") {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  int code = run_cli(args, CliContext{in, out, err, default_address});
  return {code, out.str(), err.str()};
}

TEST(Cli, NoCommandIsAUsageError) {
  CliRun r = run({});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "meldctl: missing command (try 'meldctl help')\n"
            "usage: meldctl [--addr HOST:PORT] [--json] [--timeout-ms N] COMMAND ...\n");
}

TEST(Cli, UnknownCommandIsAUsageError) {
  CliRun r = run({"frob"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.err.starts_with("meldctl: unknown command 'frob' (try 'meldctl help')\n")) << r.err;
}

TEST(Cli, MissingOrUnknownSubcommandListsTheGroupsUsage) {
  CliRun missing = run({"counter"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(missing.err,
            "meldctl: missing counter subcommand\n"
            "usage: meldctl [options] counter get NAME\n"
            "usage: meldctl [options] counter add NAME DELTA\n"
            "usage: meldctl [options] counter inc NAME [BY]\n"
            "usage: meldctl [options] counter dec NAME [BY]\n");
  CliRun unknown = run({"kv", "fetch", "x"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(unknown.err.starts_with("meldctl: unknown kv subcommand 'fetch'\n")) << unknown.err;
}

TEST(Cli, MissingArgumentsPrintTheCommandsUsage) {
  struct Case {
    std::vector<std::string> args;
    std::string usage;
  };
  for (const Case& c : std::vector<Case>{
           {{"kv", "get"}, "usage: meldctl [options] kv get KEY"},
           {{"kv", "put", "k"}, "usage: meldctl [options] kv put KEY VALUE"},
           {{"kv", "del"}, "usage: meldctl [options] kv del KEY"},
           {{"counter", "add", "c"}, "usage: meldctl [options] counter add NAME DELTA"},
           {{"set", "add", "s"}, "usage: meldctl [options] set add SET MEMBER..."},
           {{"set", "contains", "s"}, "usage: meldctl [options] set contains SET MEMBER..."},
           {{"set", "list"}, "usage: meldctl [options] set list SET [--after A] [--limit N]"},
           {{"ts", "read"},
            "usage: meldctl [options] ts read SERIES --from MS --to MS [--limit N]"},
       }) {
    CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.usage;
    EXPECT_EQ(r.err, "meldctl: missing arguments\n" + c.usage + "\n");
    EXPECT_EQ(r.out, "");
  }
}

TEST(Cli, ExtraArgumentsAreAUsageError) {
  CliRun r = run({"kv", "get", "a", "b"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "meldctl: too many arguments\nusage: meldctl [options] kv get KEY\n");
  EXPECT_EQ(run({"status", "now"}).code, 2);
}

TEST(Cli, BadCommandOptionsAreUsageErrors) {
  EXPECT_EQ(run({"kv", "scan", "--limit", "0"}).err,
            "meldctl: --limit needs a number from 1 to 1000000, got '0'\n"
            "usage: meldctl [options] kv scan [--start S] [--end E] [--limit N]\n");
  EXPECT_EQ(run({"kv", "scan", "--limit=abc"}).code, 2);
  EXPECT_EQ(run({"kv", "scan", "--bogus", "1"}).err,
            "meldctl: unknown option '--bogus'\n"
            "usage: meldctl [options] kv scan [--start S] [--end E] [--limit N]\n");
  EXPECT_EQ(run({"kv", "scan", "--start"}).err,
            "meldctl: --start needs a value\n"
            "usage: meldctl [options] kv scan [--start S] [--end E] [--limit N]\n");
  EXPECT_EQ(run({"kv", "scan", "--end", "a", "--end", "b"}).code, 2);
  EXPECT_EQ(run({"kv", "get", "--limit", "1", "k"}).err,
            "meldctl: unknown option '--limit'\nusage: meldctl [options] kv get KEY\n");
  // A global option after the command is taken as such, so the key is still missing.
  EXPECT_EQ(run({"kv", "get", "--json"}).err,
            "meldctl: missing arguments\nusage: meldctl [options] kv get KEY\n");
}

TEST(Cli, BadNumbersAreUsageErrors) {
  EXPECT_EQ(run({"counter", "add", "c", "1.5"}).err,
            "meldctl: '1.5' is not a 64-bit integer\n"
            "usage: meldctl [options] counter add NAME DELTA\n");
  EXPECT_EQ(run({"counter", "inc", "c", "x"}).code, 2);
  EXPECT_EQ(run({"counter", "dec", "c", "-9223372036854775808"}).code, 2);
  EXPECT_EQ(run({"ts", "read", "up", "--from", "1.5", "--to", "2"}).err,
            "meldctl: --from: timestamp '1.5' is not an integer number of milliseconds\n"
            "usage: meldctl [options] ts read SERIES --from MS --to MS [--limit N]\n");
  EXPECT_EQ(run({"ts", "read", "up", "--from", "1"}).err,
            "meldctl: missing --to\n"
            "usage: meldctl [options] ts read SERIES --from MS --to MS [--limit N]\n");
}

TEST(Cli, TsQueryChecksItsRangeBeforeConnecting) {
  const std::string usage = "usage: meldctl [options] ts query EXPR --from MS --to MS --step MS\n";
  EXPECT_EQ(run({"ts", "query"}).err, "meldctl: missing arguments\n" + usage);
  EXPECT_EQ(run({"ts", "query", "up", "--from", "0", "--to", "10"}).err,
            "meldctl: missing --step\n" + usage);
  EXPECT_EQ(run({"ts", "query", "up", "--from", "0", "--to", "10", "--step", "0"}).err,
            "meldctl: --step must be positive\n" + usage);
  EXPECT_EQ(run({"ts", "query", "up", "--from", "x", "--to", "10", "--step", "1"}).err,
            "meldctl: --from: timestamp 'x' is not an integer number of milliseconds\n" + usage);
  EXPECT_EQ(
      run({"ts", "query", "up", "--from", "0", "--to", "10", "--step", "1", "--limit", "3"}).code,
      2);
  EXPECT_NE(cli_usage().find("  ts query EXPR --from MS --to MS --step MS\n"), std::string::npos);
}

TEST(Cli, TsWriteRejectsBadSeriesAndEveryBadSampleBeforeConnecting) {
  CliRun series = run({"ts", "write", "up{", "1=2"});
  EXPECT_EQ(series.code, 2);
  EXPECT_TRUE(series.err.starts_with(
      "meldctl: bad series 'up{': column 4: expected a label name or '}', got end of input\n"))
      << series.err;
  CliRun samples = run({"ts", "write", "up", "1=2", "1.5=3", "NaN=1", "4=x"});
  EXPECT_EQ(samples.code, 2);
  EXPECT_EQ(samples.err,
            "meldctl: sample '1.5=3': timestamp '1.5' is not an integer number of milliseconds\n"
            "meldctl: sample 'NaN=1': timestamp 'NaN' is not an integer number of milliseconds\n"
            "meldctl: sample '4=x': value 'x' is not a number\n"
            "usage: meldctl [options] ts write SERIES TS=VALUE [TS=VALUE...] | ts write -\n");
  EXPECT_EQ(run({"ts", "write", "up"}).code, 2);
}

TEST(Cli, GlobalOptionsAreChecked) {
  const std::string global_usage =
      "usage: meldctl [--addr HOST:PORT] [--json] [--timeout-ms N] COMMAND ...\n";
  EXPECT_EQ(run({"--bogus", "status"}).err, "meldctl: unknown option '--bogus'\n" + global_usage);
  EXPECT_EQ(run({"--addr"}).err, "meldctl: --addr needs a value\n" + global_usage);
  EXPECT_EQ(
      run({"--timeout-ms", "0", "status"}).err,
      "meldctl: --timeout-ms needs a positive number of milliseconds, got '0'\n" + global_usage);
  EXPECT_EQ(run({"--timeout-ms=abc", "status"}).code, 2);
  EXPECT_EQ(run({"--json"}).err, "meldctl: missing command (try 'meldctl help')\n" + global_usage);
}

TEST(Cli, HelpPrintsTheUsageToStdout) {
  for (const char* flag : {"help", "--help", "-h"}) {
    CliRun r = run({flag});
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, cli_usage());
    EXPECT_EQ(r.err, "");
  }
  EXPECT_NE(cli_usage().find("  ts write SERIES TS=VALUE [TS=VALUE...] | ts write -\n"),
            std::string::npos);
}

TEST(Cli, UnreachableNodeIsOneLineNamingTheAddressAndExitOne) {
  std::string address = testing::refused_address();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--addr", address, "kv", "get", "x"},
           {"--json", "--addr=" + address, "kv", "get", "x"},
       }) {
    CliRun r = run(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "meldctl: unavailable: cannot reach MeldDB at " + address + ": connection refused\n");
  }
}

// Each update sends one request id and resends it on a new connection after a timeout, a bounded
// number of times.
TEST(Cli, UpdatesAreResentWithTheirRequestIdAfterATimeoutABoundedNumberOfTimes) {
  testing::LocalSocket silent(true);
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"counter", "inc", "c"}, {"set", "add", "s", "m"}, {"set", "remove", "s", "m"}}) {
    std::vector<std::string> args = {"--addr", silent.address(), "--timeout-ms", "100"};
    args.insert(args.end(), command.begin(), command.end());
    CliRun r = run(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("(3 attempts with request id "), std::string::npos) << r.err;
    EXPECT_EQ(silent.accept_pending(), 3) << command[0] << " " << command[1];
  }
}

TEST(Cli, GlobalOptionsMayFollowTheCommand) {
  std::string address = testing::refused_address();
  // The --addr after the command wins over the default; the failure names it.
  CliRun r = run({"kv", "get", "x", "--addr", address, "--json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "meldctl: unavailable: cannot reach MeldDB at " + address + ": connection refused\n");
  EXPECT_EQ(run({"status", "--timeout-ms", "0"}).code, 2);
}

TEST(Cli, DefaultAddressComesFromTheContext) {
  std::string address = testing::refused_address();
  CliRun r = run({"status"}, "", address);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "meldctl: unavailable: cannot reach MeldDB at " + address + ": connection refused\n");
}

TEST(Cli, TsWriteFromStdinReportsBadLinesAndSkipsBlankAndCommentLines) {
  CliRun r = run({"ts", "write", "-"},
                 "# a comment\n"
                 "\n"
                 "up{a=\"b\" 1 2\n"
                 "up 1.5 2\n"
                 "up 1\n"
                 "up 1 NaN extra\r\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "accepted 0, rejected 4\n");
  EXPECT_EQ(r.err,
            "meldctl: line 3: invalid_argument: column 10: expected ',' or '}' after the value of "
            "label 'a', got '1'\n"
            "meldctl: line 4: invalid_argument: timestamp '1.5' is not an integer number of "
            "milliseconds\n"
            "meldctl: line 5: invalid_argument: expected SERIES TS VALUE\n"
            "meldctl: line 6: invalid_argument: expected SERIES TS VALUE\n");
}

TEST(Cli, TsWriteFromStdinWritesOneJsonDocumentWithJson) {
  CliRun r = run({"--json", "ts", "write", "-"}, "up 1 x\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            R"({"accepted":0,"rejected":1,"errors":[{"item":"line 1","code":"invalid_argument",)"
            R"("message":"value 'x' is not a number"}]})"
            "\n");
}

TEST(Cli, TsWriteFromStdinWithNothingToSendSucceedsWithoutConnecting) {
  CliRun r = run({"ts", "write", "-"}, "# nothing\n\n");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "accepted 0, rejected 0\n");
  EXPECT_EQ(r.err, "");
}

TEST(Cli, TsWriteFromStdinCountsAnUnsentBatchAsRejected) {
  std::string address = testing::refused_address();
  CliRun r = run({"--addr", address, "ts", "write", "-"}, "up 1 1\nup 2 2\ndown 1 1\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "accepted 0, rejected 3\n");
  EXPECT_EQ(r.err,
            "meldctl: unavailable: cannot reach MeldDB at " + address + ": connection refused\n");
}

}  // namespace
}  // namespace meld::client
