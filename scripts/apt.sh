# Sourced by scripts/test.sh and .ci/run: installing Debian packages, and
# what the build itself needs (tools, disk space).

# Installs Debian packages quietly (with sudo when not root); fails when
# apt cannot.
apt_install() {
    local sudo=""
    [[ $(id -u) != 0 ]] && sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"; } >/dev/null 2>&1
}

# jemalloc, wsbench's allocator, is built from source (tikv-jemalloc-sys):
# every build, the lints' included, needs a C compiler and make.
build_tools() {
    if ! command -v cc >/dev/null || ! command -v make >/dev/null; then
        printf '\n==> %s\n' "installing build-essential (apt): a C compiler and make for jemalloc"
        apt_install build-essential || echo "could not install build-essential: the build needs cc and make" >&2
    fi
}

# The full test command writes about 6 GB under target/ from a clean
# checkout (`du -sh target` after `CI=true bash .ci/run`; .ci/run turns
# incremental builds off). A build that runs out of space fails midway with
# "No space left on device", so the free space is printed first, with a
# warning under 8 GB.
disk_room() {
    local writes_gb=6 warn_gb=8 free_gb
    free_gb=$(df -Pk . | awk 'NR == 2 { printf "%d", $4 / 1048576 }')
    echo "disk: ${free_gb} GB free under $PWD"
    if (( free_gb < warn_gb )); then
        echo "WARNING: ${free_gb} GB free; the full test command writes about ${writes_gb} GB under target/ from a clean checkout, and may run out of space" >&2
    fi
}
