# Sourced by scripts/test.sh and .ci/run: installing Debian packages, and
# the tools the build itself needs.

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
