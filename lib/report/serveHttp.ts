/**
 * The served page's HTTP side: the page, JSON for each view, server-sent events for live
 * updates, a job's log, files that are records or declared outputs, and the actions. Every
 * request carries the token printed at start (`?token=` or the `x-ephys-make-token` header);
 * one without it is refused before anything is read.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { PageData } from './pageData.js';
import { checkServable } from './serveFiles.js';

export interface ServerHooks {
  page(): string;
  /** Start an action; returns its id, or why it cannot start. */
  action(body: { action?: string; rec?: string; stage?: string }): { ok: true; id: string } | { ok: false; status: number; message: string };
  /** Events to replay to a browser that just connected (running actions, progress). */
  backlog(): Array<{ type: string; data: unknown }>;
}

export interface ServeServer {
  url: string;
  token: string;
  port: number;
  broadcast(type: string, data: unknown): void;
  clients(): number;
  close(): Promise<void>;
}

const contentTypes: Record<string, string> = {
  '.png': 'image/png', '.json': 'application/json', '.csv': 'text/csv; charset=utf-8', '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.jsonl': 'text/plain; charset=utf-8', '.py': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml',
};

export function makeToken(): string {
  return crypto.randomBytes(18).toString('base64url');
}

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given), b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  send(res, status, { error: message });
}

export async function startServer(data: PageData, hooks: ServerHooks, opts: { host: string; port: number; token?: string }): Promise<ServeServer> {
  const token = opts.token ?? makeToken();
  const streams = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const given = url.searchParams.get('token') ?? (req.headers['x-ephys-make-token'] as string | undefined);
    if (!sameToken(given ?? undefined, token)) {
      if (url.pathname === '/') return send(res, 403, '<!doctype html><title>ephys-make</title><p>This page needs its token: open the address <code>ephys-make serve</code> printed when it started.</p>', 'text/html; charset=utf-8');
      return refuse(res, 403, 'missing or wrong token: use the address ephys-make serve printed at start');
    }
    try {
      route(req, res, url);
    } catch (err: any) {
      refuse(res, 500, `internal error: ${err.message}`);
    }
  });

  function route(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const q = (k: string) => url.searchParams.get(k) ?? '';
    if (req.method === 'POST' && url.pathname === '/api/action') return readBody(req, res, (body) => {
      const r = hooks.action(body);
      if (r.ok) send(res, 202, { id: r.id }); else refuse(res, r.status, r.message);
    });
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, `${req.method} is not allowed here`);
    switch (url.pathname) {
      case '/': return send(res, 200, hooks.page(), 'text/html; charset=utf-8');
      case '/api/board': return send(res, 200, data.snapshot());
      case '/api/summary': return send(res, 200, data.summary());
      case '/api/recording': {
        const d = data.detail(q('rec'));
        return d ? send(res, 200, d) : refuse(res, 404, `no recording ${q('rec')}`);
      }
      case '/api/log': {
        const t = data.logTail(q('rec'), q('stage'));
        return 'error' in t ? refuse(res, t.status, t.error) : send(res, 200, t);
      }
      case '/api/file': return sendFile(res, q('path'));
      case '/api/events': return openStream(req, res);
      default: return refuse(res, 404, `nothing at ${url.pathname}`);
    }
  }

  function sendFile(res: http.ServerResponse, requested: string): void {
    const check = checkServable(data.servableSource(), requested);
    if (!check.ok) return refuse(res, check.status, check.message);
    res.writeHead(200, {
      'content-type': contentTypes[path.extname(check.file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': check.sizeBytes, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'",
    });
    fs.createReadStream(check.file, { end: Math.max(0, check.sizeBytes - 1) }).on('error', () => res.destroy()).pipe(res);
  }

  function openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    // The board first, so a browser never misses a change made between loading and subscribing.
    res.write(frame('board', data.snapshot()));
    for (const e of hooks.backlog()) res.write(frame(e.type, e.data));
    streams.add(res);
    req.on('close', () => streams.delete(res));
  }

  // Proxies close idle connections; a comment line every 25 s keeps the stream open and costs nothing.
  const keepAlive = setInterval(() => { for (const s of streams) s.write(': keep-alive\n\n'); }, 25_000);
  keepAlive.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostInUrl}:${port}/?token=${token}`,
    token,
    port,
    broadcast(type, payload) {
      if (!streams.size) return;
      const f = frame(type, payload);
      for (const s of streams) s.write(f);
    },
    clients: () => streams.size,
    close() {
      clearInterval(keepAlive);
      for (const s of streams) s.end();
      streams.clear();
      return new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
    },
  };
}

function frame(type: string, payload: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** A small JSON body; anything larger than an action needs is refused. */
function readBody(req: http.IncomingMessage, res: http.ServerResponse, then: (body: Record<string, string>) => void): void {
  let text = '';
  let tooBig = false;
  req.on('data', (d: Buffer) => { text += d; if (text.length > 16 * 1024) { tooBig = true; req.destroy(); } });
  req.on('end', () => {
    if (tooBig) return;
    let body: unknown;
    try { body = JSON.parse(text || '{}'); } catch { return refuse(res, 400, 'the body is not JSON'); }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return refuse(res, 400, 'the body must be a JSON object');
    then(body as Record<string, string>);
  });
}
