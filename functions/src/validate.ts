// Validation of the Hasura event-trigger envelope that `pgbulk relay` (and
// Hasura itself) POSTs. Everything downstream relies on the shape checked here,
// so the rules are strict and each failure has a human-readable reason that is
// returned with the 400 (the relay parks the event with that reason).
//
// Accepted shape:
//   { "id": "<uuid>", "created_at": "<ISO 8601 timestamp>",
//     "trigger": { "name": string },
//     "table": { "schema": string, "name": string },
//     "event": { "op": "INSERT"|"UPDATE"|"DELETE"|"MANUAL",
//                "data": { "old": object|null, "new": object|null }, ... },
//     "delivery_info": { ... }   (optional, ignored) }

import { isLosslessNumber, LosslessNumber, parse as losslessParse } from 'lossless-json';

// Numbers are kept as LosslessNumber (their exact text): a bigint beyond 2^53 or a
// numeric with 30 digits reaches Pub/Sub with every digit, as PostgreSQL wrote it.
export type JsonValue = null | boolean | number | LosslessNumber | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const OPERATIONS = ['INSERT', 'UPDATE', 'DELETE', 'MANUAL'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface ChangeEvent {
  id: string;
  /** created_at normalised to UTC, microsecond precision: YYYY-MM-DDTHH:MM:SS.ffffffZ */
  createdAt: string;
  triggerName: string;
  schema: string;
  table: string;
  op: Operation;
  old: JsonObject | null;
  new: JsonObject | null;
  /** The row's `id` (new row's when there is one, else old row's). */
  rowId: string | number;
}

export type ValidationResult = { ok: true; event: ChangeEvent } | { ok: false; reason: string };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Identifiers end up in attributes and the ordering key; PostgreSQL caps them
// at 63 bytes, so 255 characters is generous while keeping Pub/Sub limits far away.
const MAX_NAME_LENGTH = 255;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;
}

const TS_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parse an ISO 8601 / PostgreSQL text timestamp and normalise it to UTC with
 * microseconds (BigQuery TIMESTAMP precision; digits beyond are truncated).
 * A timestamp without a zone is taken as UTC: Hasura sends `created_at` in UTC
 * without an offset. Returns null when the text is not a valid timestamp.
 */
export function normaliseTimestamp(text: string): string | null {
  const m = TS_RE.exec(text);
  if (m === null) return null;
  const [, ys, mos, ds, hs, mis, ss, frac = '', zone = 'Z'] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = Number(hs);
  const mi = Number(mis);
  const s = Number(ss);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 23 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const local = new Date(0);
  local.setUTCFullYear(y, mo - 1, d);
  local.setUTCHours(h, mi, s, 0);
  // Reject dates that Date silently rolled over (e.g. February 30).
  if (local.getUTCFullYear() !== y || local.getUTCMonth() !== mo - 1 || local.getUTCDate() !== d) {
    return null;
  }
  const utc = new Date(local.getTime() - offsetMinutes * 60_000);
  const year = utc.getUTCFullYear();
  if (year < 1 || year > 9999) return null;
  const micros = frac.padEnd(6, '0').slice(0, 6);
  // toISOString gives millisecond precision (and 4-digit years for 1..9999);
  // replace the fraction with the microseconds we parsed.
  return utc.toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
}

function rowIdOf(row: JsonObject, which: string): { ok: true; id: string | number } | { ok: false; reason: string } {
  const id = row['id'];
  if (typeof id === 'string' && id.length > 0) return { ok: true, id };
  if (typeof id === 'number' && Number.isFinite(id)) return { ok: true, id };
  // The exact digits: a bigint id beyond 2^53 keeps its own ordering key.
  if (isLosslessNumber(id) && Number.isFinite(Number(id.value))) return { ok: true, id: id.value };
  return { ok: false, reason: `event.data.${which}.id must be a non-empty string or a number` };
}

export type ParsedBody = { ok: true; body: unknown } | { ok: false; reason: string };

/** UTF-8 JSON, numbers kept exact. */
export function parseBody(raw: Buffer): ParsedBody {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return { ok: false, reason: 'body is not valid UTF-8' };
  }
  try {
    return { ok: true, body: losslessParse(text) };
  } catch {
    return { ok: false, reason: 'body is not valid JSON' };
  }
}

/** Parse and validate a raw request body holding one envelope. */
export function parseEnvelope(raw: Buffer): ValidationResult {
  const parsed = parseBody(raw);
  return parsed.ok ? validateEnvelope(parsed.body) : parsed;
}

/** Validate an already-parsed envelope. */
export function validateEnvelope(body: unknown): ValidationResult {
  if (!isObject(body)) return { ok: false, reason: 'body must be a JSON object' };

  const id = body['id'];
  if (typeof id !== 'string' || !UUID_RE.test(id)) {
    return { ok: false, reason: 'id must be a UUID string' };
  }
  const createdAtRaw = body['created_at'];
  if (typeof createdAtRaw !== 'string') {
    return { ok: false, reason: 'created_at must be an ISO 8601 timestamp string' };
  }
  const createdAt = normaliseTimestamp(createdAtRaw);
  if (createdAt === null) {
    return { ok: false, reason: 'created_at must be an ISO 8601 timestamp string' };
  }

  const trigger = body['trigger'];
  if (!isObject(trigger) || !nonEmptyString(trigger['name'])) {
    return { ok: false, reason: 'trigger.name must be a non-empty string' };
  }
  const table = body['table'];
  if (!isObject(table)) return { ok: false, reason: 'table must be an object' };
  const schema = table['schema'];
  const name = table['name'];
  if (!nonEmptyString(schema)) return { ok: false, reason: 'table.schema must be a non-empty string' };
  if (!nonEmptyString(name)) return { ok: false, reason: 'table.name must be a non-empty string' };

  const event = body['event'];
  if (!isObject(event)) return { ok: false, reason: 'event must be an object' };
  const op = event['op'];
  if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op)) {
    return { ok: false, reason: `event.op must be one of ${OPERATIONS.join(', ')}` };
  }
  const data = event['data'];
  if (!isObject(data)) return { ok: false, reason: 'event.data must be an object' };
  // Hasura always sends both keys; an absent key is read as null.
  const oldRow = data['old'] ?? null;
  const newRow = data['new'] ?? null;
  if (oldRow !== null && !isObject(oldRow)) {
    return { ok: false, reason: 'event.data.old must be an object or null' };
  }
  if (newRow !== null && !isObject(newRow)) {
    return { ok: false, reason: 'event.data.new must be an object or null' };
  }

  const operation = op as Operation;
  switch (operation) {
    case 'INSERT':
    case 'MANUAL': // Hasura's manual trigger carries the current row as `new`.
      if (newRow === null) return { ok: false, reason: `${operation} requires event.data.new` };
      if (oldRow !== null) return { ok: false, reason: `${operation} requires event.data.old to be null` };
      break;
    case 'DELETE':
      if (oldRow === null) return { ok: false, reason: 'DELETE requires event.data.old' };
      if (newRow !== null) return { ok: false, reason: 'DELETE requires event.data.new to be null' };
      break;
    case 'UPDATE':
      if (oldRow === null || newRow === null) {
        return { ok: false, reason: 'UPDATE requires both event.data.old and event.data.new' };
      }
      break;
  }

  let rowId: string | number | undefined;
  if (oldRow !== null) {
    const r = rowIdOf(oldRow, 'old');
    if (!r.ok) return r;
    rowId = r.id;
  }
  if (newRow !== null) {
    const r = rowIdOf(newRow, 'new');
    if (!r.ok) return r;
    // The new row's id wins: later events for this row will carry it.
    rowId = r.id;
  }
  if (rowId === undefined) return { ok: false, reason: 'event has no row' };

  return {
    ok: true,
    event: {
      // Kept exactly as sent: redeliveries must carry the same event_id.
      id,
      createdAt,
      triggerName: trigger['name'] as string,
      schema,
      table: name,
      op: operation,
      old: oldRow,
      new: newRow,
      rowId,
    },
  };
}
