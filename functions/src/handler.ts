// The HTTP handler, built from injected dependencies so that the same code
// runs against a fake publisher in unit tests and the real Pub/Sub client in
// production and in the emulator test.
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { authenticate } from './auth';
import type { ConfigResult, EventsConfig } from './config';
import { buildMessage, type OutgoingMessage } from './message';
import type { EventPublisher } from './publisher';
import { parseBody, validateEnvelope } from './validate';

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

function reply(res: Response, status: number, body: object): void {
  res.status(status).set('Cache-Control', 'no-store').json(body);
}

/** One event's answer within a batch: the same statuses a single request gets. */
export interface EventResult {
  eventId: string | null;
  status: 200 | 400 | 503;
  messageId?: string;
  error?: string;
}

function idOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const id = (value as Record<string, unknown>)['id'];
  return typeof id === 'string' ? id : null;
}

export function createEventsHandler(deps: HandlerDeps): HttpFunction {
  const now = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const log = deps.log ?? defaultLog;

  // Validate and publish a batch: the valid events go to Pub/Sub in one Publish
  // request, in request order, so those of one row (one ordering key) are stored in
  // that order; it succeeds or fails as a whole, so no later event of a row can be
  // stored while an earlier one is refused.
  async function publishAll(
    config: EventsConfig,
    items: unknown[],
    scheme: string,
  ): Promise<EventResult[]> {
    const results: EventResult[] = [];
    const pending: Array<{ index: number; message: OutgoingMessage; table: string; op: string }> = [];
    for (const item of items) {
      const eventId = idOf(item);
      const valid = validateEnvelope(item);
      if (!valid.ok) {
        log({ severity: 'WARNING', message: 'invalid event', reason: valid.reason, event_id: eventId ?? undefined });
        results.push({ eventId, status: 400, error: valid.reason });
        continue;
      }
      const built = buildMessage(valid.event);
      if (!built.ok) {
        log({ severity: 'WARNING', message: 'unpublishable event', reason: built.reason, event_id: eventId ?? undefined });
        results.push({ eventId, status: 400, error: built.reason });
        continue;
      }
      pending.push({ index: results.length, message: built.message, table: built.data.table, op: valid.event.op });
      results.push({ eventId: valid.event.id, status: 503 });
    }
    if (pending.length === 0) return results;
    const publisher = deps.getPublisher(config.publishTimeoutMs);
    let ids: string[];
    try {
      ids = await publisher.publishAll(config.topic, pending.map((p) => p.message));
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      for (const p of pending) {
        const result = results[p.index]!;
        log({ severity: 'ERROR', message: 'publish failed', detail, event_id: result.eventId ?? undefined });
        // 503: not stored; the sender retries it (and the rest of its row) later.
        result.error = 'publish failed';
      }
      return results;
    }
    pending.forEach((p, i) => {
      const result = results[p.index]!;
      result.status = 200;
      result.messageId = ids[i]!;
    });
    // One line per request, not per event: at thousands of events per second a line
    // each would cost more than the publishing (and the logging bill). A single event
    // (Hasura) is logged with its ids as before.
    const first = pending[0]!;
    log({
      severity: 'INFO',
      message: 'published',
      events: pending.length,
      event_id: pending.length === 1 ? (results[first.index]!.eventId ?? undefined) : undefined,
      first_event_id: pending.length > 1 ? (results[first.index]!.eventId ?? undefined) : undefined,
      table: pending.length === 1 ? first.table : undefined,
      operation: pending.length === 1 ? first.op : undefined,
      message_id: ids[0],
      scheme,
    });
    return results;
  }

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
      secrets: config.secrets,
      hasuraSecret: config.hasuraSecret,
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
    if (auth.scheme === 'hmac-previous') {
      log({ severity: 'WARNING', message: 'signed with EVENTS_SECRET_PREVIOUS: finish the rotation' });
    }

    const parsed = parseBody(rawBody);
    if (!parsed.ok) {
      log({ severity: 'WARNING', message: 'invalid request', reason: parsed.reason });
      reply(res, 400, { error: parsed.reason });
      return;
    }

    // A JSON array is a batch (pgbulk relay): answered 200 with one result per event,
    // in order. An object is one event (Hasura's envelope): answered as before.
    if (Array.isArray(parsed.body)) {
      const items: unknown[] = parsed.body;
      if (items.length === 0 || items.length > config.maxBatch) {
        reply(res, 400, { error: `a batch holds 1 to ${config.maxBatch} events` });
        return;
      }
      const results = await publishAll(config, items, auth.scheme);
      reply(res, 200, { results });
      return;
    }
    const [result] = await publishAll(config, [parsed.body], auth.scheme);
    if (result!.status === 200) {
      reply(res, 200, { messageId: result!.messageId, eventId: result!.eventId });
    } else {
      reply(res, result!.status, { error: result!.error ?? 'failed' });
    }
  };
}
