# The uWebSockets peers (load_test, echo_server, push_hub), built from their
# sources into target/uws. Sourced by scripts/peer-compare.sh and
# scripts/stack-compare.sh, from the checkout's root.
#
# The sources are not part of this repository: WSBENCH_UWS_PEERS names a
# folder with their build.sh (default: the team's shared folder next to the
# checkout). Building them needs a C/C++ compiler and zlib headers (Debian:
# build-essential zlib1g-dev).

# uws_peers WHO: builds the peers if they are missing or older than their
# sources and sets `uws` to their folder; without what they need, says
# "WHO: SKIPPED: why" on stderr and returns 1; exits the caller if the
# build fails.
uws_peers() {
    local who=$1 need
    local peers=${WSBENCH_UWS_PEERS:-../shared/peers/uws}
    if [[ ! -f $peers/build.sh ]]; then
        echo "$who: SKIPPED: no uWebSockets peer sources at $peers (set WSBENCH_UWS_PEERS)" >&2
        return 1
    fi
    for need in cc c++; do
        if ! command -v "$need" > /dev/null; then
            echo "$who: SKIPPED: $need not found (apt-get install build-essential)" >&2
            return 1
        fi
    done
    if [[ ! -f /usr/include/zlib.h ]]; then
        echo "$who: SKIPPED: zlib headers not found (apt-get install zlib1g-dev)" >&2
        return 1
    fi
    uws=target/uws
    if [[ ! -x $uws/push_hub || -n $(find "$peers" -newer "$uws/push_hub" -type f -print -quit) ]]; then
        # A failed build stops the caller: it is not a missing tool.
        bash "$peers/build.sh" "$uws" > /dev/null || {
            echo "$who: the uWebSockets peers failed to build ($peers/build.sh)" >&2
            exit 1
        }
    fi
}
