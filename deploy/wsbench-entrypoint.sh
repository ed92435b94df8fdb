#!/bin/bash
# Entry point of the wsbench image: raise the soft open-file limit to the
# hard one (each connection is a file; container runtimes often start
# processes at a soft limit of 1,024), say so if it stays low, then run
# the command.
hard=$(ulimit -Hn)
ulimit -Sn "$hard" 2>/dev/null || true
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt 20000 ]; then
    echo "wsbench-entrypoint: open files limited to $soft; connections past that fail with out-of-files (raise the runtime's nofile limit)" >&2
fi
exec "$@"
