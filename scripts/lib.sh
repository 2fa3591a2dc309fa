# Shared by scripts/start and scripts/test: install the Debian packages MeldDB needs (only the
# missing ones, non-interactively, with sudo when not root), then configure and build.
# Sourced, not executed.

MELD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

MELD_PACKAGES=(
  g++ make cmake pkg-config
  capnproto libcapnp-dev
  libuv1-dev librocksdb-dev libxxhash-dev libzstd-dev libre2-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  libcurl4-openssl-dev libsnappy-dev nlohmann-json3-dev
)

meld_install_deps() {
  local missing=() p
  for p in "${MELD_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  echo "installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# meld_build BUILD_DIR [cmake -D options...] [-- targets...]
meld_build() {
  local dir="$1"; shift
  local opts=() targets=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; targets=("$@"); break; fi
    opts+=("$1"); shift
  done
  cmake -S "$MELD_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${opts[@]}" >/dev/null
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$dir" -j2 --target "${targets[@]}"
  else
    cmake --build "$dir" -j2
  fi
}
