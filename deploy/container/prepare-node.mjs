#!/usr/bin/env node
// Prepares a node for l4lb: loads the kernel modules and sets the sysctls the
// daemon needs. It is the init container of the Kubernetes DaemonSet
// (deploy/kubernetes/daemonset.yaml), so that the daemon container runs
// without CAP_SYS_MODULE and with the read-only /proc/sys that every
// unprivileged container gets (the daemon then only reads the sysctls).
//
//   node prepare-node.mjs [--sysctl-root DIR] [--skip-modprobe]
//
// --sysctl-root DIR  where the node's sysctls are, as DIR/net/... (default
//                    /proc/sys). runc refuses mounts inside /proc, so the pod
//                    mounts the host's /proc/sys/net at /host/proc/sys/net.
// --skip-modprobe    for nodes whose kernel has the modules built in and that
//                    have no /lib/modules.
//
// The sysctls and their values are the daemon's own decisions
// (controller/dataplane/sysctl.ts, imported from the build), so the two
// cannot disagree. Exit 1 if a required module or a sysctl failed: the
// daemon cannot forward correctly on such a node, and a failing init
// container says why in `kubectl logs POD -c prepare-node`.

import { execFileSync } from 'node:child_process';
import { applySysctls, desiredSysctls, procSysctl } from '../../dist/controller/dataplane/sysctl.js';

// IPVS, its default scheduler (others load on demand), conntrack for the
// hairpin rule, the xt_ipvs match of that rule, and the VIP link type.
// deploy/systemd/l4lb.service loads the same list (a test keeps them equal).
const REQUIRED_MODULES = ['ip_vs', 'ip_vs_wlc', 'nf_conntrack', 'xt_ipvs', 'dummy'];
// iptables-legacy runs modprobe for these itself, which the daemon container
// cannot (no CAP_SYS_MODULE, no /lib/modules); iptables-nft does not need
// them, and kernels without them are fine with nftables.
const LEGACY_IPTABLES_MODULES = ['ip_tables', 'ip6_tables'];

function usage(message) {
  process.stderr.write(`prepare-node: ${message}\nusage: prepare-node.mjs [--sysctl-root DIR] [--skip-modprobe]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { sysctlRoot: '/proc/sys', modprobe: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--skip-modprobe') opts.modprobe = false;
    else if (a === '--sysctl-root') {
      const v = argv[++i];
      if (!v) usage('--sysctl-root needs a directory');
      opts.sysctlRoot = v;
    } else usage(`unknown argument ${JSON.stringify(a)}`);
  }
  return opts;
}

/** Loads one module; returns the reason it failed, or undefined. */
function modprobe(name) {
  try {
    execFileSync('modprobe', [name], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 30_000 });
    return undefined;
  } catch (e) {
    return (e.stderr || e.message || String(e)).trim().split('\n').pop();
  }
}

const opts = parseArgs(process.argv.slice(2));
let failed = false;
if (opts.modprobe) {
  for (const m of REQUIRED_MODULES) {
    const why = modprobe(m);
    console.log(why === undefined ? `module ${m}: loaded` : `module ${m}: FAILED: ${why}`);
    if (why !== undefined) failed = true;
  }
  for (const m of LEGACY_IPTABLES_MODULES) {
    const why = modprobe(m);
    console.log(why === undefined ? `module ${m}: loaded` : `module ${m}: not loaded (only iptables-legacy needs it): ${why}`);
  }
}
const io = procSysctl(opts.sysctlRoot);
const { wants, notes } = desiredSysctls({ kernelRelease: io.kernelRelease() });
for (const n of notes) console.log(`note: ${n}`);
for (const r of applySysctls(wants, io)) {
  if (!r.ok) {
    failed = true;
    console.log(`sysctl ${r.key}: FAILED: ${r.error?.message ?? 'unknown error'}`);
  } else console.log(`sysctl ${r.key} = ${r.after}${r.changed ? ` (was ${r.before})` : ''}`);
}
process.exit(failed ? 1 : 0);
