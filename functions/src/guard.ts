// Checks made before anything reads or parses a request body: the media type
// (415) and the declared length (411 without one, 413 above EVENTS_MAX_BODY_BYTES,
// 1 MiB by default). They run as the server's request listener, ahead of the
// framework's Express app, whose body parsers would otherwise read (up to 1 GiB)
// and JSON.parse anything before the function is called.
//
// The framework builds its server with http.createServer(app) when it starts,
// whichever way it is started (functions-framework CLI on Cloud Functions,
// serve.js locally, getTestServer in tests), always after loading this module.
// installGuard() wraps http.createServer so every server made from then on puts
// guard() in front of its listener. body-parser then refuses a body whose size
// differs from its content-length, so the declared length is a real bound.
import http = require('node:http');
import { maxBodyBytes } from './config';

export type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Refusal {
  status: number;
  error: string;
}

// application/json, optionally with charset utf-8 (what the relay and Hasura send).
const JSON_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;
const LENGTH_RE = /^[0-9]{1,15}$/;

/** Why a request must be refused before its body is read, or null. Only POSTs are checked
 *  (anything else gets the handler's 405 and has no body worth reading). */
export function preParseRefusal(req: http.IncomingMessage, limit: number): Refusal | null {
  if (req.method !== 'POST') return null;
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !JSON_TYPE.test(type.trim())) {
    return { status: 415, error: 'content-type must be application/json' };
  }
  const length = req.headers['content-length'];
  if (length === undefined || req.headers['transfer-encoding'] !== undefined) {
    return { status: 411, error: 'content-length required' };
  }
  if (!LENGTH_RE.test(length)) return { status: 400, error: 'invalid content-length' };
  if (Number(length) > limit) {
    return { status: 413, error: `body larger than ${limit} bytes` };
  }
  return null;
}

export function guard(listener: Listener, env: Record<string, string | undefined> = process.env): Listener {
  return (req, res) => {
    const refusal = preParseRefusal(req, maxBodyBytes(env));
    if (refusal === null) {
      listener(req, res);
      return;
    }
    const body = JSON.stringify({ error: refusal.error });
    res.writeHead(refusal.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      connection: 'close',
    });
    res.end(body);
    // Discard what the client still sends (unread, unstored), so it reads the answer
    // instead of a reset connection.
    req.resume();
  };
}

let installed = false;

/** Wrap http.createServer once, so every server created afterwards is guarded. */
export function installGuard(): void {
  if (installed) return;
  installed = true;
  const original = http.createServer;
  const wrapped = function (this: unknown, ...args: unknown[]): http.Server {
    const i = args.findIndex((a) => typeof a === 'function');
    if (i >= 0) args[i] = guard(args[i] as Listener);
    return (original as (...a: unknown[]) => http.Server).apply(http, args);
  };
  (http as { createServer: unknown }).createServer = wrapped;
}
