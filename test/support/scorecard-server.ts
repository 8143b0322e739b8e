/**
 * The Flow Library scorecard (`node-red-dev validate`, 0.1.6) run offline. Its network
 * look-ups are answered by a local server (see scorecard-preload.ts):
 *   - https://catalogue.nodered.org/catalogue.json  (P08 similar names, N01 unique types)
 *   - https://registry.npmjs.org/node-red           (P06 dist-tags, P07 engines of latest)
 *   - <registry>/<dependency>                       (D02 dependency tree via npm-remote-ls,
 *                                                    D03 latest versions via npm-check)
 * Packuments are built from real data: `npm view` for node-red and for each runtime
 * dependency (versions, dist-tags, the latest version's dependencies), and the
 * repository's package-lock.json for the rest of the dependency tree.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { repoRoot } from './paths';
import { registeredTypesInHtml } from './package-files';

export interface CatalogueModule {
  id: string;
  version: string;
  types: string[];
}

export type Packument = { name: string; 'dist-tags': Record<string, string>; versions: Record<string, Record<string, unknown>>; time?: Record<string, string> };

export interface ScorecardServer {
  port: number;
  /** every request seen: "host path -> status" */
  requests: string[];
  /** requests that had no answer (404) */
  unanswered(): string[];
  close(): Promise<void>;
}

function npmView(args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile('npm', ['view', ...args, '--json'], { cwd: repoRoot, timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`npm view ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

/** The packuments the scorecard asks for, from `npm view` (node-red, our dependencies) and the lock file. */
export async function buildPackuments(dependencies: Record<string, string>): Promise<Map<string, Packument>> {
  const map = new Map<string, Packument>();
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8'));
  for (const [key, entry] of Object.entries<any>(lock.packages ?? {})) {
    const at = key.lastIndexOf('node_modules/');
    if (at < 0 || !entry.version) continue;
    const name = key.slice(at + 'node_modules/'.length);
    const p: Packument = map.get(name) ?? { name, 'dist-tags': { latest: entry.version }, versions: {} };
    p.versions[entry.version] = { name, version: entry.version, dependencies: entry.dependencies ?? {}, optionalDependencies: entry.optionalDependencies ?? {} };
    const latest = p['dist-tags'].latest;
    if (compareVersions(entry.version, latest) > 0) p['dist-tags'].latest = entry.version;
    map.set(name, p);
  }
  const nodeRed = await npmView(['node-red', 'dist-tags', 'engines', 'version']);
  map.set('node-red', {
    name: 'node-red',
    'dist-tags': nodeRed['dist-tags'],
    versions: { [nodeRed.version]: { name: 'node-red', version: nodeRed.version, engines: nodeRed.engines } },
  });
  await Promise.all(
    Object.keys(dependencies).map(async (dep) => {
      const info = await npmView([dep, 'versions', 'dist-tags', 'dependencies', 'version']);
      const fromLock = map.get(dep);
      const versions: Record<string, Record<string, unknown>> = {};
      for (const v of info.versions as string[]) versions[v] = fromLock?.versions[v] ?? { name: dep, version: v, dependencies: {} };
      versions[info.version] = { name: dep, version: info.version, dependencies: info.dependencies ?? {} };
      map.set(dep, { name: dep, 'dist-tags': info['dist-tags'], versions });
    }),
  );
  return map;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number(x));
  const pb = b.split(/[.-]/).map((x) => Number(x));
  for (let i = 0; i < 3; i++) if ((pa[i] || 0) !== (pb[i] || 0)) return (pa[i] || 0) - (pb[i] || 0);
  return 0;
}

/**
 * A catalogue like catalogue.nodered.org's, of the Node-RED modules installed in this
 * repository (node-red-dashboard, node-red-node-ui-table ...) with the types their
 * editor HTML registers; `extra` entries are appended.
 */
export function localCatalogue(exclude: string, extra: CatalogueModule[] = []): { modules: CatalogueModule[] } {
  const nm = path.join(repoRoot, 'node_modules');
  const modules: CatalogueModule[] = [];
  const consider = (dir: string): void => {
    const pj = path.join(dir, 'package.json');
    if (!fs.existsSync(pj)) return;
    const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
    if (!pkg['node-red']?.nodes || pkg.name === exclude) return;
    const types = new Set<string>();
    for (const js of Object.values<string>(pkg['node-red'].nodes)) {
      const html = path.join(dir, js.replace(/\.c?js$/, '.html'));
      if (fs.existsSync(html)) for (const t of registeredTypesInHtml(fs.readFileSync(html, 'utf8'))) types.add(t.type);
    }
    modules.push({ id: pkg.name, version: pkg.version, types: [...types] });
  };
  for (const e of fs.readdirSync(nm)) {
    if (e.startsWith('.')) continue;
    if (e.startsWith('@')) for (const s of fs.readdirSync(path.join(nm, e))) consider(path.join(nm, e, s));
    else consider(path.join(nm, e));
  }
  return { modules: [...modules, ...extra] };
}

export function startScorecardServer(catalogue: { modules: CatalogueModule[] }, packuments: Map<string, Packument>): Promise<ScorecardServer> {
  const requests: string[] = [];
  const missing: string[] = [];
  const server = http.createServer((req, res) => {
    const host = String(req.headers['x-scorecard-host'] ?? req.headers.host ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    let status = 404;
    let body: unknown = { error: 'Not found' };
    if (host === 'catalogue.nodered.org' && url.pathname === '/catalogue.json') {
      status = 200;
      body = catalogue;
    } else if (req.method === 'GET') {
      const name = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
      const p = packuments.get(name);
      if (p) {
        status = 200;
        body = p;
      }
    }
    requests.push(`${host} ${url.pathname} -> ${status}`);
    if (status === 404) missing.push(`${host} ${url.pathname}`);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        port,
        requests,
        unanswered: () => [...missing],
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

export interface ScorecardRun {
  scorecard: Record<string, any>;
  output: string;
  code: number | null;
}

/** Runs `node-red-dev validate -p <packageDir> -o <file>` with its network look-ups sent to `server`. */
export function runValidate(packageDir: string, outFile: string, server: ScorecardServer): Promise<ScorecardRun> {
  const bin = path.join(path.dirname(require.resolve('node-red-dev/package.json', { paths: [repoRoot] })), 'bin', 'run');
  const preload = path.join(__dirname, 'scorecard-preload.js');
  const env: NodeJS.ProcessEnv = { ...process.env, SCORECARD_SERVER_PORT: String(server.port), npm_config_registry: 'https://registry.npmjs.org/' };
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NODE_OPTIONS']) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', preload, bin, 'validate', '-p', packageDir, '-o', outFile], {
      cwd: packageDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let scorecard: Record<string, any> = {};
      try {
        scorecard = JSON.parse(fs.readFileSync(outFile, 'utf8'));
      } catch {
        /* reported by the caller from the output */
      }
      resolve({ scorecard, output, code });
    });
  });
}
