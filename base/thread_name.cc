#include "base/thread_name.h"

#include <pthread.h>

namespace meld {

namespace {
constexpr size_t kThreadNameBytesMax = 15;  // the kernel's TASK_COMM_LEN, less the terminator
}  // namespace

void set_thread_name(std::string_view name) {
  const std::string cut(name.substr(0, kThreadNameBytesMax));
  pthread_setname_np(pthread_self(), cut.c_str());
}

std::string thread_name() {
  char name[kThreadNameBytesMax + 1] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) return {};
  return name;
}

}  // namespace meld
