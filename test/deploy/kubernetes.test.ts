// deploy/kubernetes, offline: the manifests parse, reference each other, and
// ask for exactly the permissions deploy/README.md explains; the config file
// in the ConfigMap is one `l4lb run` accepts; the mounts, the probes and the
// init container match what the daemon and prepare-node.mjs read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { SETTINGS, flagName, envName } from '../../controller/config/schema.js';
import { loadSettings } from '../../controller/config/load.js';
import { scratch, copyArgs, dockerStages, envArgs, flattenConfig, isObj, kubernetesFiles, memoryBytes, read, yamlDocs, type Obj } from './files.js';

// The status API's unix socket (issue 5: `/run/l4lb/l4lb.sock` by default).
const STATUS_SOCKET = '/run/l4lb/l4lb.sock';

const DAEMON_CAPS = ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW'];
const INIT_CAPS = ['NET_ADMIN', 'SYS_MODULE'];
const RBAC_RULES = [
  { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
];
/** Peak RSS of `l4lb run` at 10,000 VIPs x 10 backends (make bench). */
const MEASURED_PEAK_RSS = 316 * 1024 ** 2;

interface K8sObject extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

function objects(): Array<K8sObject & { file: string }> {
  const out: Array<K8sObject & { file: string }> = [];
  for (const f of kubernetesFiles()) {
    if (f === 'kustomization.yaml') continue;
    for (const d of yamlDocs(`deploy/kubernetes/${f}`)) {
      assert.ok(isObj(d), `${f}: a document is not a mapping`);
      assert.equal(typeof d.apiVersion, 'string', `${f}: apiVersion`);
      assert.equal(typeof d.kind, 'string', `${f}: kind`);
      assert.ok(isObj(d.metadata) && typeof d.metadata.name === 'string', `${f}: metadata.name`);
      out.push({ ...(d as K8sObject), file: f });
    }
  }
  return out;
}

function one(kind: string): K8sObject {
  const found = objects().filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} (found ${found.length})`);
  return found[0]!;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  securityContext?: Obj;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  livenessProbe?: Obj;
  readinessProbe?: Obj;
  startupProbe?: Obj;
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
}

function podSpec(): Obj & { containers: Container[]; initContainers: Container[]; volumes: Volume[] } {
  const ds = one('DaemonSet') as Obj;
  const spec = (ds.spec as Obj).template as Obj;
  return spec.spec as Obj & { containers: Container[]; initContainers: Container[]; volumes: Volume[] };
}

function container(name: string): Container {
  const p = podSpec();
  const c = [...p.containers, ...(p.initContainers ?? [])].find((x) => x.name === name);
  assert.ok(c, `container ${name}`);
  return c;
}

function configMapData(): Record<string, string> {
  return (one('ConfigMap') as Obj).data as Record<string, string>;
}

/** The l4lb config file the DaemonSet passes with --config, as a flat key map. */
function daemonConfig(): { path: string; flat: Map<string, unknown>; text: string } {
  const args = container('l4lb').args ?? [];
  const i = args.indexOf('--config');
  assert.ok(i >= 0 && args[i + 1], 'the daemon is given --config FILE');
  const path = args[i + 1]!;
  const mount = (container('l4lb').volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${path} is inside a mounted volume`);
  const vol = podSpec().volumes.find((v) => v.name === mount.name);
  assert.equal(vol?.configMap?.name, one('ConfigMap').metadata.name, `${path} comes from the ConfigMap`);
  const key = path.slice(mount.mountPath.length + 1);
  const text = configMapData()[key];
  assert.equal(typeof text, 'string', `the ConfigMap has the key ${key}`);
  return { path, flat: flattenConfig(yaml.load(text!)), text: text! };
}

/** hostPath volume mounted at `mountPath` in `c`, or undefined. */
function hostPathAt(c: Container, mountPath: string): { path: string; type?: string; readOnly: boolean } | undefined {
  const m = (c.volumeMounts ?? []).find((x) => x.mountPath === mountPath);
  const v = m && podSpec().volumes.find((x) => x.name === m.name);
  return v?.hostPath ? { ...v.hostPath, readOnly: m!.readOnly === true } : undefined;
}

test('kubernetes: every manifest parses, and kustomization.yaml lists exactly them', () => {
  const files = kubernetesFiles();
  assert.ok(files.includes('daemonset.yaml') && files.includes('rbac.yaml') && files.includes('configmap.yaml'), files.join(' '));
  const all = objects();
  assert.ok(all.length >= 6, `${all.length} objects`);
  const k = yamlDocs('deploy/kubernetes/kustomization.yaml')[0] as Obj;
  assert.equal(k.kind, 'Kustomization');
  assert.deepEqual([...(k.resources as string[])].sort(), files.filter((f) => f !== 'kustomization.yaml'));
});

test('kubernetes: objects live in one namespace and reference each other by the right names', () => {
  const ns = one('Namespace');
  // hostNetwork, hostPath and NET_ADMIN are beyond the baseline Pod Security level.
  assert.equal((ns.metadata as Obj & { labels?: Record<string, string> }).labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
  for (const o of objects()) {
    if (o.kind === 'Namespace' || o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, undefined, `${o.kind} is cluster-scoped`);
    else assert.equal(o.metadata.namespace, ns.metadata.name, `${o.kind}/${o.metadata.name} namespace`);
  }
  const sa = one('ServiceAccount');
  assert.equal(podSpec().serviceAccountName, sa.metadata.name);
  const binding = one('ClusterRoleBinding') as Obj;
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: one('ClusterRole').metadata.name });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: ns.metadata.name }]);
  const ds = one('DaemonSet') as Obj;
  const sel = ((ds.spec as Obj).selector as Obj).matchLabels as Record<string, string>;
  const labels = (((ds.spec as Obj).template as Obj).metadata as Obj).labels as Record<string, string>;
  for (const [k, v] of Object.entries(sel)) assert.equal(labels[k], v, `pod label ${k} matches the selector`);
});

test('kubernetes: RBAC is exactly read access to Services and EndpointSlices', () => {
  assert.deepEqual(
    objects()
      .filter((o) => ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'].includes(o.kind))
      .map((o) => o.kind)
      .sort(),
    ['ClusterRole', 'ClusterRoleBinding'],
  );
  const rules = (one('ClusterRole') as Obj).rules as Obj[];
  const norm = (r: Obj) => JSON.stringify({ apiGroups: r.apiGroups, resources: r.resources, verbs: [...(r.verbs as string[])].sort() });
  assert.deepEqual(rules.map(norm).sort(), RBAC_RULES.map(norm).sort());
});

test('kubernetes: the pod runs on every node in the host network, node-critical, one node at a time', () => {
  const p = podSpec();
  assert.equal(p.hostNetwork, true);
  assert.equal(p.dnsPolicy, 'ClusterFirstWithHostNet');
  assert.equal(p.priorityClassName, 'system-node-critical');
  assert.ok((p.tolerations as Obj[]).some((t) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined), 'tolerates every taint');
  assert.equal(typeof p.terminationGracePeriodSeconds, 'number');
  assert.equal(((p.securityContext as Obj).seccompProfile as Obj).type, 'RuntimeDefault');
  const strategy = ((one('DaemonSet') as Obj).spec as Obj).updateStrategy as Obj;
  assert.deepEqual(strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  const images = new Set([...p.containers, ...p.initContainers].map((c) => c.image));
  assert.equal(images.size, 1, 'the init container and the daemon run the same image');
});

test('kubernetes: capabilities are exactly NET_ADMIN, NET_RAW, NET_BIND_SERVICE (daemon) and SYS_MODULE, NET_ADMIN (init)', () => {
  const p = podSpec();
  assert.deepEqual(p.containers.map((c) => c.name), ['l4lb']);
  assert.deepEqual(p.initContainers.map((c) => c.name), ['prepare-node']);
  for (const [name, caps] of [['l4lb', DAEMON_CAPS], ['prepare-node', INIT_CAPS]] as const) {
    const sc = container(name).securityContext as Obj & { capabilities: { add: string[]; drop: string[] } };
    assert.deepEqual(sc.capabilities.drop, ['ALL'], `${name} drops every capability`);
    assert.deepEqual([...sc.capabilities.add].sort(), [...caps].sort(), `${name} adds`);
    assert.notEqual(sc.privileged, true, `${name} is not privileged`);
    assert.equal(sc.allowPrivilegeEscalation, false, `${name} allowPrivilegeEscalation`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${name} readOnlyRootFilesystem`);
  }
  // Module loading and the host's writable sysctls stay in the init container.
  assert.equal(hostPathAt(container('l4lb'), '/lib/modules'), undefined);
  assert.ok(!(container('l4lb').volumeMounts ?? []).some((m) => m.mountPath.startsWith('/host/proc')), 'no host /proc in the daemon');
  assert.deepEqual(hostPathAt(container('prepare-node'), '/lib/modules'), { path: '/lib/modules', type: 'Directory', readOnly: true });
});

test('kubernetes: every container has requests and a memory limit above the measured peak at 10,000 VIPs', () => {
  for (const c of [...podSpec().containers, ...podSpec().initContainers]) {
    assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${c.name} requests cpu and memory`);
    assert.ok(c.resources.limits?.memory, `${c.name} has a memory limit`);
    assert.ok(memoryBytes(c.resources.requests.memory) <= memoryBytes(c.resources.limits.memory), `${c.name} request <= limit`);
  }
  const limit = memoryBytes(container('l4lb').resources!.limits!.memory!);
  assert.ok(limit >= 1.25 * MEASURED_PEAK_RSS, `limit ${limit} leaves 25% over the measured peak ${MEASURED_PEAK_RSS}`);
});

test('kubernetes: the config file holds only settings of `l4lb run`, and the daemon loader accepts it', () => {
  const { flat, text } = daemonConfig();
  const known = new Set(SETTINGS.map((s) => s.key));
  for (const key of flat.keys()) assert.ok(known.has(key), `config key ${key} is a setting of controller/config/schema.ts`);
  // The real loader: values of known keys must convert (a bad value or a typo'd key fails here).
  const doc = yaml.load(text) as Obj;
  const file = join(scratch('config'), 'config.yaml');
  writeFileSync(file, yaml.dump(doc));
  const loaded = loadSettings({ file });
  assert.equal(loaded.origin.get('state-dir'), 'file');
});

test('kubernetes: daemon args and env are `l4lb run` flags and variables', () => {
  const c = container('l4lb');
  assert.equal(c.command, undefined, 'the image entrypoint (bin/l4lb) runs');
  const args = c.args ?? [];
  assert.equal(args[0], 'run');
  const flags = new Set(['--config', ...SETTINGS.map((s) => `--${flagName(s)}`)]);
  for (const a of args.filter((x) => x.startsWith('--'))) assert.ok(flags.has(a.split('=')[0]!), `${a} is a flag of l4lb run`);
  const envs = new Set(['L4LB_CONFIG', ...SETTINGS.map(envName)]);
  for (const e of c.env ?? []) if (e.name.startsWith('L4LB_')) assert.ok(envs.has(e.name), `${e.name} is a setting's variable`);
});

test('kubernetes: the state dir, status socket and xtables lock are the node\'s, at the paths the daemon uses', () => {
  const { flat } = daemonConfig();
  const stateDir = (flat.get('state-dir') ?? SETTINGS.find((s) => s.key === 'state-dir')!.default) as string;
  const c = container('l4lb');
  assert.deepEqual(hostPathAt(c, stateDir), { path: stateDir, type: 'DirectoryOrCreate', readOnly: false }, `state dir ${stateDir} is a writable hostPath`);
  assert.ok(STATUS_SOCKET.startsWith(`${stateDir}/`), `the status socket ${STATUS_SOCKET} is in the state dir, so the node's l4lb CLI reaches it`);
  assert.deepEqual(hostPathAt(c, '/run/xtables.lock'), { path: '/run/xtables.lock', type: 'FileOrCreate', readOnly: false });
});

test('kubernetes: probes ask the status API on the loopback address the config opens', () => {
  const { flat } = daemonConfig();
  const listens = flat.get('status.listen');
  assert.ok(Array.isArray(listens) && listens.length === 1, 'status.listen holds one address (httpGet probes cannot reach the unix socket)');
  const listen = String(listens[0]);
  const m = /^(127\.0\.0\.1|\[::1\]):(\d+)$/.exec(listen);
  assert.ok(m, `${String(listen)} is a loopback host:port`);
  const c = container('l4lb');
  const expect = { liveness: '/healthz', startup: '/healthz', readiness: '/readyz' } as const;
  for (const [kind, path] of Object.entries(expect)) {
    const probe = c[`${kind}Probe` as 'livenessProbe'];
    assert.ok(probe, `${kind} probe`);
    const get = probe.httpGet as Obj;
    assert.equal(get.path, path, `${kind} path`);
    assert.equal(get.port, Number(m[2]), `${kind} port`);
    assert.equal(get.host, m[1]!.replace(/^\[|\]$/g, ''), `${kind} host`);
  }
});

test('kubernetes: the init container runs prepare-node.mjs from the image on the host\'s /proc/sys/net', () => {
  const c = container('prepare-node');
  const cmd = c.command ?? [];
  assert.equal(cmd[0], 'node');
  // Where the Dockerfile puts prepare-node.mjs (the builder's bundled one).
  const runtime = dockerStages(read('deploy/container/Dockerfile')).at(-1)!;
  const workdir = runtime.instructions.find((i) => i.op === 'WORKDIR')!.args;
  const copied = runtime.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => copyArgs(i.args))
    .find((a) => a.sources.includes('/src/dist/bundle/prepare-node.mjs'));
  assert.ok(copied, 'the image contains prepare-node.mjs');
  const inImage = copied.dest.startsWith('/') ? copied.dest : `${workdir}/${copied.dest}`;
  assert.equal(cmd[1], inImage);
  assert.equal(envArgs(runtime.instructions.find((i) => i.op === 'ENV')!.args).get('L4LB_HOME'), workdir);
  const i = cmd.indexOf('--sysctl-root');
  assert.ok(i > 0, '--sysctl-root is given');
  assert.deepEqual(hostPathAt(c, `${cmd[i + 1]}/net`), { path: '/proc/sys/net', type: 'Directory', readOnly: false });
});
