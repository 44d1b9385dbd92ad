// Builders shared by the table tests (not a test file itself).

import type { Task, TaskPort } from './types.js';

export function port(vips: string[] | Array<{ key: string; value: string }>, over: Partial<TaskPort> = {}): TaskPort {
  return {
    name: 'http',
    protocol: 'tcp',
    port: 8080,
    vips: vips.map((v, i) => (typeof v === 'string' ? { key: `VIP_${i}`, value: v } : v)),
    ...over,
  };
}

export function task(id: string, over: Partial<Task> = {}): Task {
  return {
    source: 'mesos',
    id,
    name: id,
    framework: 'marathon',
    agentIp: '10.0.0.1',
    taskIps: ['9.0.0.1'],
    ports: [],
    state: 'running',
    ...over,
  };
}

/** Fisher-Yates with Math.random; tests print the order on failure. */
export function shuffle<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

// Our Task in the shape of dcos-net's task map (expected.json).
export function asDcosNet(t: Task): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: t.name, runtime: t.runtime, framework: t.framework,
    agent_ip: t.agentIp, task_ip: t.taskIps, state: t.state,
  };
  if (t.healthy !== undefined) out['healthy'] = t.healthy;
  if (t.ports.length > 0) {
    out['ports'] = t.ports.map((p) => {
      const port: Record<string, unknown> = { name: p.name, protocol: p.protocol };
      if (p.hostPort !== undefined) port['host_port'] = p.hostPort;
      if (p.port !== undefined) port['port'] = p.port;
      if (p.vips.length > 0) port['vip'] = p.vips.map((v) => v.value);
      return port;
    });
  }
  return out;
}
