// `l4lb version`: the package version plus what it runs on.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface VersionInfo {
  version: string;
  node: string;
  platform: string;
}

// Set by scripts/bundle.mjs (esbuild `define`) to package.json's version:
// the bundle, dist/bundle/l4lb.mjs, has no package.json three directories up.
declare const L4LB_VERSION: string | undefined;

export function versionInfo(): VersionInfo {
  const version = typeof L4LB_VERSION === 'string' ? L4LB_VERSION : packageVersion();
  return { version, node: process.version, platform: `${process.platform}/${process.arch}` };
}

/** The compiled modules: dist/controller/cli/version.js -> repository root (package.json ships beside dist/). */
function packageVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return (JSON.parse(readFileSync(join(here, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}
