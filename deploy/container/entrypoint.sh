#!/bin/sh
# The image's `l4lb` command (/usr/local/bin/l4lb, also its ENTRYPOINT): the
# repository's own CLI, bin/l4lb, so `kubectl exec ... -- l4lb ...` and the
# daemon are the same program as on a host. `exec` makes node PID 1 of the
# container: `l4lb run` receives SIGTERM itself (and leaves IPVS forwarding).
exec node "${L4LB_HOME:-/opt/l4lb}/bin/l4lb" "$@"
