import path from 'node:path';

/** The repository root (tests run from dist/test/..., two or three levels down). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const distRoot = path.join(repoRoot, 'dist');
export const testOutput = path.join(repoRoot, 'test-output');

/** The compiled node module for `type`, unwrapped for node-red-node-test-helper. */
export function nodeModule(type: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path.join(distRoot, 'nodes', type, `${type}.js`));
  return mod && mod.default ? mod.default : mod;
}

/** A core Node-RED node module (inject, debug, catch, http in ...). */
export function coreNode(relative: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(`@node-red/nodes/core/${relative}`, { paths: [path.join(repoRoot, 'node_modules', 'node-red')] }));
}
