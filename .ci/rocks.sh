# shellcheck shell=bash
# Sourced by .ci/run and .ci/test before they build memo-store-rocks: installs what RocksDB's
# build needs (bindgen loads libclang; RocksDB is C++) from Debian's packages when missing, and
# exports MEMO_ROCKS_TARGET, the target directory outside the clone that its release build keeps.

memo_rocks_need=()
dpkg -s libclang-dev >/dev/null 2>&1 || memo_rocks_need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || memo_rocks_need+=(g++)
if ((${#memo_rocks_need[@]})); then
    echo "rocks.sh: installing ${memo_rocks_need[*]} from Debian's packages" >&2
    memo_rocks_sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        memo_rocks_sudo="sudo"
    fi
    $memo_rocks_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $memo_rocks_sudo apt-get install -y -qq --no-install-recommends \
        "${memo_rocks_need[@]}" >/dev/null
    unset memo_rocks_sudo
fi
unset memo_rocks_need
export MEMO_ROCKS_TARGET="${MEMO_ROCKS_TARGET:-${CARGO_TARGET_DIR:-/var/tmp/memo-target}}"
