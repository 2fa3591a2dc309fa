// ts-size DIR: opens a (stopped) meldd data directory, flushes and compacts it, and reports where
// its bytes are (bench/ts_size.h), to see which part of the time-series layout costs what.
#include <cstdio>
#include <filesystem>
#include <map>

#include "bench/bench.h"
#include "bench/ts_size.h"

namespace meld::bench {

Status report_data_dir_size(storage::Engine& engine, const std::string& dir,
                            const std::string& prefix) {
  struct Kind {
    uint64_t keys = 0;
    uint64_t key_bytes = 0;
    uint64_t value_bytes = 0;
  };
  std::map<char, Kind> kinds;
  std::vector<std::pair<std::string, std::string>> page;
  std::string start;
  bool more = true;
  while (more) {
    MELD_RETURN_IF_ERROR(engine.scan(storage::Family::kTs, start, "", 4096, &page, &more));
    if (page.empty()) break;
    for (const auto& [key, value] : page) {
      Kind& kind = kinds[key.empty() ? '?' : key[0]];
      ++kind.keys;
      kind.key_bytes += key.size();
      kind.value_bytes += value.size();
    }
    start = page.back().first;
    start.push_back('\0');
  }
  for (const auto& [letter, kind] : kinds) {
    const std::string name = prefix + "ts." + std::string(1, letter);
    report(name + ".keys", std::to_string(kind.keys));
    report(name + ".key_bytes", std::to_string(kind.key_bytes));
    report(name + ".value_bytes", std::to_string(kind.value_bytes));
  }
  const storage::Stats stats = engine.stats();
  for (size_t i = 0; i < storage::kFamilyCount; ++i) {
    if (stats.sst_file_bytes[i] == 0) continue;
    report(prefix + "sst." + std::string(storage::family_name(static_cast<storage::Family>(i))) +
               "_bytes",
           std::to_string(stats.sst_file_bytes[i]));
  }
  std::map<std::string, uint64_t> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    if (name.starts_with("LOG")) continue;
    const char* kind = name.ends_with(".sst")         ? "sst"
                       : name.starts_with("MANIFEST") ? "manifest"
                       : name.starts_with("OPTIONS")  ? "options"
                                                      : "other";
    files[kind] += it->file_size(ec);
  }
  for (const auto& [kind, bytes] : files) {
    report(prefix + "files." + kind + "_bytes", std::to_string(bytes));
  }
  return Status::ok();
}

namespace {

MELD_BENCH(ts_size, "ts-size",
           "DIR: flush and compact a stopped meldd data dir and report its bytes by kind") {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: meld-bench ts-size DIR (a stopped meldd's data directory)\n");
    return 2;
  }
  if (!std::filesystem::is_directory(args[0])) {
    std::fprintf(stderr, "ts-size: %s is not a directory\n", args[0].c_str());
    return 1;
  }
  storage::InlineExecutor executor;
  storage::Options options;
  options.dir = args[0];
  auto engine = storage::Engine::open(options, &executor);
  Status s = engine.status();
  if (s.is_ok()) s = (*engine)->flush();
  if (s.is_ok()) s = (*engine)->compact();
  if (s.is_ok()) s = report_data_dir_size(**engine, args[0], "");
  if (!s.is_ok()) {
    std::fprintf(stderr, "ts-size: %s\n", s.to_string().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace meld::bench
