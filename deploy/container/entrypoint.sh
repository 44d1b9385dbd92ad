#!/bin/sh
# The image's `l4lb` command (/usr/local/bin/l4lb, also its ENTRYPOINT): the
# repository's own CLI, bin/l4lb, so `kubectl exec ... -- l4lb ...` and the
# daemon are the same program as on a host. `exec` makes node PID 1 of the
# container: `l4lb run` receives SIGTERM itself (and leaves IPVS forwarding).
# The V8 heap flags bin/l4lb would otherwise re-execute `run` with (README,
# "Memory"); harmless for the other commands.
exec node --max-semi-space-size=2 --heap-growing-percent=20 "${L4LB_HOME:-/opt/l4lb}/bin/l4lb" "$@"
