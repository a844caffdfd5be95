// The HTTP handler, built from injected dependencies so that the same code
// runs against a fake publisher in unit tests and the real Pub/Sub client in
// production and in the emulator test.
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { authenticate } from './auth';
import type { ConfigResult } from './config';
import { buildMessage } from './message';
import type { EventPublisher } from './publisher';
import { parseEnvelope } from './validate';

export interface HandlerDeps {
  getConfig: () => ConfigResult;
  /** Called only when a message is about to be published (lazy client creation). */
  getPublisher: (publishTimeoutMs: number) => EventPublisher;
  /** Current time in unix seconds; injectable for replay-window tests. */
  nowSeconds?: () => number;
  /** One structured log entry; defaults to a JSON line that Cloud Logging understands. */
  log?: (entry: LogEntry) => void;
}

export interface LogEntry {
  severity: 'INFO' | 'WARNING' | 'ERROR';
  message: string;
  [field: string]: string | number | undefined;
}

function defaultLog(entry: LogEntry): void {
  const line = JSON.stringify(entry);
  if (entry.severity === 'INFO') console.log(line);
  else console.error(line);
}

function reply(res: Response, status: number, body: Record<string, string>): void {
  res.status(status).set('Cache-Control', 'no-store').json(body);
}

export function createEventsHandler(deps: HandlerDeps): HttpFunction {
  const now = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const log = deps.log ?? defaultLog;

  return async (req: Request, res: Response): Promise<void> => {
    if (req.method !== 'POST') {
      res.set('Allow', 'POST');
      reply(res, 405, { error: 'method not allowed' });
      return;
    }

    // Configuration before authentication: without a secret nothing can be
    // verified, so refuse everything (fail closed) rather than accept anything.
    const cfg = deps.getConfig();
    if (!cfg.ok) {
      log({ severity: 'ERROR', message: `not configured: ${cfg.reason}` });
      reply(res, 500, { error: 'not configured' });
      return;
    }
    const config = cfg.config;

    // The exact bytes received: the signature covers them, not a re-serialisation.
    const rawBody: Buffer = Buffer.isBuffer(req.rawBody) ? req.rawBody : Buffer.alloc(0);
    const auth = authenticate({
      headers: req.headers,
      rawBody,
      secret: config.secret,
      maxSkewSeconds: config.maxSkewSeconds,
      nowSeconds: now(),
    });
    if (!auth.ok) {
      // The reason is logged for operators but never returned: the caller
      // must not learn which check failed. No header values are logged.
      log({ severity: 'WARNING', message: 'authentication failed', reason: auth.reason, ip: req.ip });
      reply(res, 401, { error: 'unauthorized' });
      return;
    }

    const parsed = parseEnvelope(rawBody);
    if (!parsed.ok) {
      log({ severity: 'WARNING', message: 'invalid event', reason: parsed.reason });
      reply(res, 400, { error: parsed.reason });
      return;
    }
    const event = parsed.event;
    const built = buildMessage(event);
    if (!built.ok) {
      log({ severity: 'WARNING', message: 'unpublishable event', reason: built.reason, event_id: event.id });
      reply(res, 400, { error: built.reason });
      return;
    }

    let messageId: string;
    try {
      messageId = await deps.getPublisher(config.publishTimeoutMs).publish(config.topic, built.message);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      log({ severity: 'ERROR', message: 'publish failed', detail, event_id: event.id });
      // 503: the event was not stored; the sender should retry it later.
      reply(res, 503, { error: 'publish failed' });
      return;
    }
    log({
      severity: 'INFO',
      message: 'published',
      event_id: event.id,
      table: built.data.table,
      operation: event.op,
      message_id: messageId,
      scheme: auth.scheme,
    });
    reply(res, 200, { messageId, eventId: event.id });
  };
}
