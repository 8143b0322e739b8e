/**
 * What a new user gets from this package, read from the package itself so the checks
 * follow nodes and examples as they are added: the node sets in package.json
 * "node-red".nodes, the node types each set's editor HTML registers (with their
 * category), and the example flows under examples/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths';

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  d?: boolean;
  wires?: unknown;
  [key: string]: unknown;
}

export interface ExampleFile {
  /** path relative to examples/, e.g. "Quota guard.json" */
  file: string;
  /** Import > Examples menu label: the file name without .json */
  label: string;
  nodes: FlowNode[];
}

export interface NodeTypeInfo {
  type: string;
  /** the package.json node set that registers it */
  set: string;
  /** the category literal from the editor definition ('config' for config nodes) */
  category: string | null;
}

export function readPackageJson(dir = repoRoot): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
}

/** package.json "node-red".nodes: set name -> runtime .js path (relative). */
export function nodeSets(dir = repoRoot): Record<string, string> {
  return { ...(readPackageJson(dir)['node-red']?.nodes ?? {}) };
}

/**
 * Every `RED.nodes.registerType('<type>', {...})` in an editor HTML file, with the
 * category literal of its definition (null when it has none or it is not a literal).
 */
export function registeredTypesInHtml(html: string): Array<{ type: string; category: string | null }> {
  const out: Array<{ type: string; category: string | null }> = [];
  const re = /RED\.nodes\.registerType\(\s*(['"])([^'"]+)\1\s*,/g;
  const starts: Array<{ type: string; index: number }> = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(html)) !== null) starts.push({ type: m[2], index: m.index + m[0].length });
  starts.forEach((s, i) => {
    const body = html.slice(s.index, i + 1 < starts.length ? starts[i + 1].index : html.length);
    const cat = /\bcategory\s*:\s*(['"])([^'"]*)\1/.exec(body);
    out.push({ type: s.type, category: cat ? cat[2] : null });
  });
  return out;
}

/**
 * The node types this package registers, from each node set's editor HTML next to its
 * runtime file (where the Node-RED loader looks for it). `dir` is the package root
 * (the repository, or an unpacked tarball).
 */
export function ourNodeTypes(dir = repoRoot): NodeTypeInfo[] {
  const types: NodeTypeInfo[] = [];
  for (const [set, js] of Object.entries(nodeSets(dir))) {
    const html = path.join(dir, js.replace(/\.c?js$/, '.html'));
    if (!fs.existsSync(html)) {
      types.push({ type: set, set, category: null });
      continue;
    }
    const found = registeredTypesInHtml(fs.readFileSync(html, 'utf8'));
    if (found.length === 0) types.push({ type: set, set, category: null });
    for (const f of found) types.push({ type: f.type, set, category: f.category });
  }
  return types;
}

/** Node types that are not config nodes (these must all appear in some example). */
export function flowNodeTypes(dir = repoRoot): string[] {
  return ourNodeTypes(dir)
    .filter((t) => t.category !== 'config')
    .map((t) => t.type);
}

/** Every examples/**.json file, sorted, parsed. Throws with the file name on bad JSON. */
export function readExamples(dir = repoRoot): ExampleFile[] {
  const root = path.join(dir, 'examples');
  const out: ExampleFile[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) {
        let nodes: unknown;
        try {
          nodes = JSON.parse(fs.readFileSync(p, 'utf8'));
        } catch (err) {
          throw new Error(`examples/${path.relative(root, p)} is not valid JSON: ${(err as Error).message}`, { cause: err });
        }
        if (!Array.isArray(nodes)) throw new Error(`examples/${path.relative(root, p)} is not an array of nodes`);
        out.push({ file: path.relative(root, p), label: e.name.replace(/\.json$/, ''), nodes: nodes as FlowNode[] });
      }
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out;
}

/** Structural entries of a flow file that are not runtime nodes. */
export function isStructural(n: FlowNode): boolean {
  return ['tab', 'subflow', 'group', 'junction'].includes(n.type) || n.type.startsWith('subflow:');
}

/** Types in `nodes` that are in none of the given known sets. */
export function unknownTypes(nodes: FlowNode[], known: Set<string>): string[] {
  const unknown = new Set<string>();
  for (const n of nodes) if (!isStructural(n) && !known.has(n.type)) unknown.add(n.type);
  return [...unknown].sort();
}

/**
 * Core node types shipped with Node-RED (@node-red/nodes), mapped to the module file
 * that registers them, read from the core editor HTML files.
 */
export function coreNodeFiles(): Map<string, string> {
  const nodesDir = path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [path.join(repoRoot, 'node_modules', 'node-red')] }));
  const map = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.html')) {
        const js = p.replace(/\.html$/, '.js');
        if (!fs.existsSync(js)) continue;
        for (const t of registeredTypesInHtml(fs.readFileSync(p, 'utf8'))) map.set(t.type, js);
      }
    }
  };
  walk(path.join(nodesDir, 'core'));
  return map;
}

/** Strings in example flows that look like real secrets. */
export const SECRET_PATTERNS: Array<{ name: string; re: RegExp }> = [
  { name: 'OpenAI-style key', re: /\bsk-[A-Za-z0-9_-]{16,}/ },
  { name: 'NVIDIA API key', re: /\bnvapi-[A-Za-z0-9_-]{16,}/ },
  { name: 'bearer token', re: /\bBearer\s+[A-Za-z0-9._~+/=-]{16,}/i },
  { name: 'JWT', re: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/ },
  { name: 'AWS access key', re: /\bAKIA[0-9A-Z]{16}\b/ },
  { name: 'GitHub token', re: /\bgh[pousr]_[A-Za-z0-9]{30,}/ },
  { name: 'long random token', re: /\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{32,}\b/ },
  { name: 'long hex secret', re: /\b[0-9a-f]{40,}\b/i },
  { name: 'URL with a password', re: /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i },
];

/** Where a secret-looking value sits in a flow: "node <id> (<type>) .path: <pattern>". */
export function findSecrets(nodes: FlowNode[]): string[] {
  const hits: string[] = [];
  const visit = (v: unknown, where: string, node: FlowNode): void => {
    if (typeof v === 'string') {
      for (const p of SECRET_PATTERNS) if (p.re.test(v)) hits.push(`node ${node.id} (${node.type}) ${where}: looks like a ${p.name}`);
    } else if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${where}[${i}]`, node));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, `${where}.${k}`, node);
  };
  for (const n of nodes) {
    const creds = n.credentials;
    if (creds && typeof creds === 'object' && Object.values(creds as Record<string, unknown>).some((x) => x !== '' && x !== null && x !== undefined)) {
      hits.push(`node ${n.id} (${n.type}) carries credentials: ${Object.keys(creds as object).join(', ')}`);
    }
    for (const [k, v] of Object.entries(n)) if (k !== 'id' && k !== 'credentials' && k !== 'wires') visit(v, `.${k}`, n);
  }
  return hits;
}
