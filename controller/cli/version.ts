// `l4lb version`: the package version plus what it runs on.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface VersionInfo {
  version: string;
  node: string;
  platform: string;
}

export function versionInfo(): VersionInfo {
  // dist/controller/cli/version.js -> repository root (package.json ships beside dist/).
  const here = dirname(fileURLToPath(import.meta.url));
  const pkg = JSON.parse(readFileSync(join(here, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  return { version: pkg.version, node: process.version, platform: `${process.platform}/${process.arch}` };
}
