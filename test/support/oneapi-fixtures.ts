/** Fixtures for the One API client, simulator and oneapi-server tests. */
import http from 'node:http';
import type { SimChannel, SimFlavour } from '../../simulators/oneapi';

export const FLAVOURS: SimFlavour[] = ['one-api', 'new-api-2025', 'new-api-2026'];
export const TOKEN = 'adm1nTokenSecret9f8e7d6c5b4a3210';
export const CHANNEL_KEY_PREFIX = 'sk-upstreamChannelKey';

/** `n` channels with distinct keys; every 7th has null priority and weight. */
export function manyChannels(n: number): SimChannel[] {
  const out: SimChannel[] = [];
  for (let i = 1; i <= n; i++) {
    out.push({
      id: i,
      name: `ch-${i}`,
      models: i % 5 === 0 ? [`model-${i}`, `model-${i}-mini`] : [`model-${i}`],
      priority: i % 7 === 0 ? null : i % 10,
      weight: i % 7 === 0 ? null : 1,
      status: 1,
      key: `${CHANNEL_KEY_PREFIX}${String(i).padStart(6, '0')}xyz`,
    });
  }
  return out;
}

/** The client's flavour name for a simulator flavour. */
export function clientFlavour(f: SimFlavour): 'one-api' | 'new-api' {
  return f === 'one-api' ? 'one-api' : 'new-api';
}

/** Raw HTTP request against the simulator (no client logic in between). */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const data = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const req = http.request(`${url}${path}`, { method, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Serialises an error with its own properties (message, code, status, stack, anything attached). */
export function dumpError(e: unknown): string {
  if (!e || typeof e !== 'object') return String(e);
  return JSON.stringify(e, Object.getOwnPropertyNames(e));
}
