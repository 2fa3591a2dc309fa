// meldd: one MeldDB node. See server/config.cc for flags. SIGINT/SIGTERM stop it cleanly.
#include <uv.h>

#include <csignal>

#include <cstdio>
#include <string>
#include <vector>

#include "base/assert.h"
#include "base/ids.h"
#include "base/log.h"
#include "server/node.h"

namespace {

struct Signals {
  uv_signal_t sigint;
  uv_signal_t sigterm;
  meld::server::Node* node;
};

void on_signal(uv_signal_t* handle, int signum) {
  auto* s = static_cast<Signals*>(handle->data);
  meld::log::info("node.signal", {{"signal", signum == SIGINT ? "SIGINT" : "SIGTERM"}});
  uv_close(reinterpret_cast<uv_handle_t*>(&s->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->sigterm), nullptr);
  s->node->shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = meld::server::parse_args(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.is_ok()) {
    std::fprintf(stderr, "meldd: %s\n%s", parsed.status().message().c_str(),
                 meld::server::usage().c_str());
    return 2;
  }
  if (parsed->help) {
    std::fputs(meld::server::usage().c_str(), stdout);
    return 0;
  }
  // A client that goes away while its reply is being written must cost that connection (EPIPE),
  // not the process: libuv writes without MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto node = meld::server::Node::start(parsed->config, &loop);
  if (!node.is_ok()) {
    std::fprintf(stderr, "meldd: %s\n", node.status().to_string().c_str());
    uv_loop_close(&loop);
    return 1;
  }
  Signals signals{};
  signals.node = node->get();
  for (uv_signal_t* s : {&signals.sigint, &signals.sigterm}) {
    MELD_ASSERT(uv_signal_init(&loop, s) == 0, "uv_signal_init");
    s->data = &signals;
  }
  MELD_ASSERT(uv_signal_start(&signals.sigint, on_signal, SIGINT) == 0, "uv_signal_start");
  MELD_ASSERT(uv_signal_start(&signals.sigterm, on_signal, SIGTERM) == 0, "uv_signal_start");

  const auto& info = (*node)->info();
  std::printf("meldd ready: node=%s rpc=%s peer=%s data=%s\n",
              meld::format_id(info.node_id).c_str(), info.rpc_address.c_str(),
              info.peer_address.c_str(), info.data_dir.c_str());
  std::fflush(stdout);

  uv_run(&loop, UV_RUN_DEFAULT);
  node->reset();
  int rc = uv_loop_close(&loop);
  if (rc != 0) meld::log::warn("node.loop_close", {{"error", uv_strerror(rc)}});
  return 0;
}
