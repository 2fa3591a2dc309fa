// Names the calling thread, so that `top -H`, `ps -L`, perf and gdb tell meldd's threads apart.
#pragma once

#include <string>
#include <string_view>

namespace meld {

// Linux keeps at most 15 bytes of a thread name: longer names are cut there. Best effort: a
// thread that cannot be named keeps its inherited name.
void set_thread_name(std::string_view name);

// The calling thread's name, as the system reports it.
std::string thread_name();

}  // namespace meld
