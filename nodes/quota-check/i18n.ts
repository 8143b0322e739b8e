/**
 * Message lookup for the quota nodes: the runtime catalog (RED._) when it has the key, else
 * the node's en-US catalog read from disk, so texts stay readable where no catalog is loaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NodeAPI } from '../shared/node-red-types';

export type Translate = (key: string, subs?: Record<string, unknown>) => string;

/** `dir` is the compiled node's folder (its __dirname), which holds locales/en-US/<type>.json. */
const catalogs = new Map<string, Record<string, unknown> | null>();

function englishCatalog(type: string, dir: string): Record<string, unknown> | null {
  if (catalogs.has(type)) return catalogs.get(type) ?? null;
  let catalog: Record<string, unknown> | null;
  try {
    catalog = (JSON.parse(fs.readFileSync(path.join(dir, 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<string, Record<string, unknown>>)[type] ?? null;
  } catch {
    catalog = null;
  }
  catalogs.set(type, catalog);
  return catalog;
}

export function translator(RED: NodeAPI, type: string, dir: string): Translate {
  const catalog = englishCatalog(type, dir);
  return (key, subs = {}) => {
    const full = `${type}.${key}`;
    const s = RED._(full, subs);
    if (typeof s === 'string' && s !== full) return s;
    const tpl = key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), catalog);
    if (typeof tpl !== 'string') return full;
    return tpl.replace(/__([A-Za-z0-9_]+)__/g, (m, k: string) => (k in subs ? String(subs[k]) : m));
  };
}
