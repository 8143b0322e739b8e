/**
 * Loaded with `node --require` into the `node-red-dev validate` process: every outgoing
 * HTTP(S) request to a host other than the loopback (catalogue.nodered.org, the npm
 * registry) is sent to the local scorecard server instead, with the original host in an
 * `x-scorecard-host` header, so the scorecard runs offline against known answers.
 * SCORECARD_SERVER_PORT gives the local port.
 */
import http from 'node:http';
import https from 'node:https';
import { URL } from 'node:url';

const port = Number(process.env.SCORECARD_SERVER_PORT);
if (!port) throw new Error('scorecard-preload: SCORECARD_SERVER_PORT is not set');

type Callback = (res: http.IncomingMessage) => void;

function isLoopback(host: string | undefined | null): boolean {
  return !host || host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

/** Normalises (url | options, [options], [callback]) into options + callback. */
function normalise(args: unknown[], defaultProtocol: string): { opts: http.RequestOptions & { protocol?: string }; cb?: Callback } {
  let opts: Record<string, any> = {};
  let cb: Callback | undefined;
  for (const a of args) {
    if (typeof a === 'function') cb = a as Callback;
    else if (typeof a === 'string' || a instanceof URL) {
      const u = new URL(String(a));
      opts = { ...opts, protocol: u.protocol, hostname: u.hostname, port: u.port, path: `${u.pathname}${u.search}` };
    } else if (a && typeof a === 'object') opts = { ...opts, ...(a as object) };
  }
  if (!opts.protocol) opts.protocol = defaultProtocol;
  return { opts, cb };
}

function redirecting(original: typeof http.request, defaultProtocol: string, isGet: boolean): typeof http.request {
  return function (this: unknown, ...args: unknown[]) {
    const { opts, cb } = normalise(args, defaultProtocol);
    const host = (opts.hostname || (typeof opts.host === 'string' ? opts.host.replace(/:\d+$/, '') : '')) as string;
    if (defaultProtocol === 'http:' && isLoopback(host)) return (original as any).apply(this, args);
    const headers = { ...((opts.headers as Record<string, string>) ?? {}), 'x-scorecard-host': host, 'x-scorecard-protocol': String(opts.protocol) };
    const redirected: http.RequestOptions = {
      method: opts.method ?? 'GET',
      hostname: '127.0.0.1',
      port,
      path: opts.path ?? '/',
      headers,
    };
    const req = originalHttpRequest(redirected, cb);
    if (isGet) req.end();
    return req;
  } as typeof http.request;
}

const originalHttpRequest = http.request.bind(http);
const originalHttpGet = http.get.bind(http);
const originalHttpsRequest = https.request.bind(https);
const originalHttpsGet = https.get.bind(https);

http.request = redirecting(originalHttpRequest, 'http:', false);
http.get = redirecting(originalHttpGet, 'http:', true) as typeof http.get;
https.request = redirecting(originalHttpsRequest, 'https:', false);
https.get = redirecting(originalHttpsGet, 'https:', true) as typeof https.get;
