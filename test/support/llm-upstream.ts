/**
 * A tiny scriptable OpenAI-compatible upstream for unit tests of the routing
 * engine: each request is answered by `script(req)` (status, headers, body,
 * delay, hang, reset). Records every request.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

export interface UpstreamRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** 1-based count of requests so far */
  n: number;
  /** performance.now() at arrival */
  at: number;
}

export interface UpstreamReply {
  status?: number;
  headers?: Record<string, string>;
  /** object (sent as JSON) or raw string */
  body?: unknown;
  delayMs?: number;
  /** never answer (until the client goes away) */
  hang?: boolean;
  /** destroy the socket without an answer */
  reset?: boolean;
}

export interface Upstream {
  url: string;
  requests: UpstreamRequest[];
  /** requests in flight now / at most */
  inFlight(): number;
  maxInFlight(): number;
  setScript(script: (r: UpstreamRequest) => UpstreamReply): void;
  close(): Promise<void>;
}

export function completion(content: string, model = 'm', usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }): Record<string, unknown> {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage,
  };
}

export function startUpstream(script: (r: UpstreamRequest) => UpstreamReply = () => ({ body: completion('ok') })): Promise<Upstream> {
  let current = script;
  const requests: UpstreamRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: any;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const r: UpstreamRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, n: requests.length + 1, at: performance.now() };
      requests.push(r);
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          inFlight--;
        }
      };
      res.on('close', finish);
      const reply = current(r);
      const answer = () => {
        if (reply.reset) {
          req.socket.destroy();
          finish();
          return;
        }
        if (reply.hang) return;
        const status = reply.status ?? 200;
        const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? completion('ok'));
        res.writeHead(status, { 'content-type': 'application/json', ...(reply.headers ?? {}) });
        res.end(payload);
        finish();
      };
      if (reply.delayMs && reply.delayMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, reply.delayMs);
        timers.add(t);
      } else answer();
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        requests,
        inFlight: () => inFlight,
        maxInFlight: () => maxInFlight,
        setScript(s) {
          current = s;
        },
        close() {
          for (const t of timers) clearTimeout(t);
          timers.clear();
          return new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          });
        },
      });
    });
  });
}
