/**
 * A minimal keep-alive JSON client for benchmarks: one http.Agent per target,
 * the body serialised once, the answer read in full and its status checked.
 */
import http from 'node:http';

export interface JsonPoster {
  /** sends the request; resolves when the whole answer is read (status 2xx), rejects otherwise */
  fire: () => Promise<void>;
  close: () => void;
}

export function jsonPoster(url: string, body: unknown, headers: Record<string, string> = {}, maxSockets = 256): JsonPoster {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error('jsonPoster: http:// only');
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const payload = Buffer.from(JSON.stringify(body));
  const reqHeaders = { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers };
  const fire = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent, headers: reqHeaders }, (res) => {
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
        res.on('data', () => {});
        res.on('end', () => (ok ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  return { fire, close: () => agent.destroy() };
}
