/**
 * Real services the tests use (redis-server, Chromium). Locally a missing binary
 * skips the test with a reason; in CI (CI=true) it is a failure, because .ci/run
 * installs them.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function findBinary(name: string): string | null {
  if (name.startsWith('/')) return fs.existsSync(name) ? name : null;
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Returns false (with a reason for t.skip) when the binary is missing outside CI;
 * throws in CI so a missing install step cannot hide behind a skip.
 */
export function requireBinary(name: string): { ok: true; path: string } | { ok: false; reason: string } {
  const p = findBinary(name);
  if (p) return { ok: true, path: p };
  const reason = `${name} is not installed (apt-get install ${name.replace(/^.*\//, '')})`;
  if (process.env.CI) throw new Error(`CI: ${reason}`);
  return { ok: false, reason };
}
