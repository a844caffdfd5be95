// Turning a validated change event into the Pub/Sub message: data, attributes
// and ordering key. Pure functions, no I/O.
//
// Message data (UTF-8 JSON; the BigQuery table schema in
// schema/event-message.bq.json describes exactly these fields):
//   event_id    string   the envelope's id (redeliveries carry the same one)
//   table       string   "<schema>.<name>"
//   operation   string   INSERT | UPDATE | DELETE | MANUAL
//   old         string|null  the old row as JSON text (null for INSERT/MANUAL)
//   new         string|null  the new row as JSON text (null for DELETE)
//   diff        string   JSON text of {column: {"old": v, "new": v}} for changed columns
//   created_at  string   UTC timestamp, YYYY-MM-DDTHH:MM:SS.ffffffZ
// old/new/diff are JSON *text* rather than nested objects so that a Pub/Sub
// BigQuery subscription with use_table_schema can write them into STRING
// columns (see README.md, "Message schema").
import { isDeepStrictEqual } from 'node:util';
import { stringify as losslessStringify } from 'lossless-json';
import type { ChangeEvent, JsonObject, JsonValue, Operation } from './validate';

export interface ColumnChange {
  old: JsonValue;
  new: JsonValue;
}
export type Diff = Record<string, ColumnChange>;

export interface MessageData {
  event_id: string;
  table: string;
  operation: Operation;
  old: string | null;
  new: string | null;
  diff: string;
  created_at: string;
}

export interface OutgoingMessage {
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
}

/** Pub/Sub limits (https://cloud.google.com/pubsub/quotas#resource_limits). */
export const PUBSUB_LIMITS = {
  messageBytes: 10_000_000,
  attributeValueBytes: 1024,
  orderingKeyBytes: 1024,
} as const;

function hasOwn(o: JsonObject, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/**
 * Per-column diff. INSERT/MANUAL: every column of the new row (old = null).
 * DELETE: every column of the old row (new = null). UPDATE: only the columns
 * whose values differ (deep comparison, so JSON/array columns compare by
 * content); a column present on one side only counts as changed, with null on
 * the missing side.
 */
export function computeDiff(op: Operation, oldRow: JsonObject | null, newRow: JsonObject | null): Diff {
  // Columns are visited in sorted order so the diff's keys come out in the
  // same order as the field_changes attribute. A null-prototype object, so a
  // column literally named "__proto__" is stored as data, not as a prototype.
  const diff = Object.create(null) as Diff;
  if (op === 'INSERT' || op === 'MANUAL') {
    const n = newRow ?? {};
    for (const col of Object.keys(n).sort()) diff[col] = { old: null, new: n[col] ?? null };
    return diff;
  }
  if (op === 'DELETE') {
    const o = oldRow ?? {};
    for (const col of Object.keys(o).sort()) diff[col] = { old: o[col] ?? null, new: null };
    return diff;
  }
  const o = oldRow ?? {};
  const n = newRow ?? {};
  const columns = [...new Set([...Object.keys(o), ...Object.keys(n)])].sort();
  for (const col of columns) {
    const inOld = hasOwn(o, col);
    const inNew = hasOwn(n, col);
    const before = inOld ? (o[col] ?? null) : null;
    const after = inNew ? (n[col] ?? null) : null;
    if (inOld !== inNew || !isDeepStrictEqual(before, after)) {
      diff[col] = { old: before, new: after };
    }
  }
  return diff;
}

/** Changed column names, sorted (by UTF-16 code unit, i.e. plain ASCII order for ordinary names). */
export function changedColumns(diff: Diff): string[] {
  return Object.keys(diff).sort();
}

/** Ordering key: all events of one row are delivered in publish order. */
export function orderingKey(event: Pick<ChangeEvent, 'schema' | 'table' | 'rowId'>): string {
  return `${event.schema}.${event.table}:${String(event.rowId)}`;
}

/** JSON text with every number exactly as it was received. */
function jsonText(value: unknown): string {
  const text = losslessStringify(value);
  if (text === undefined) throw new Error('value has no JSON form');
  return text;
}

export function buildMessageData(event: ChangeEvent, diff: Diff): MessageData {
  return {
    event_id: event.id,
    table: `${event.schema}.${event.table}`,
    operation: event.op,
    old: event.old === null ? null : jsonText(event.old),
    new: event.new === null ? null : jsonText(event.new),
    diff: jsonText(diff),
    created_at: event.createdAt,
  };
}

export type BuildResult = { ok: true; message: OutgoingMessage; data: MessageData } | { ok: false; reason: string };

/** Build the complete outgoing message, checking it fits Pub/Sub's limits. */
export function buildMessage(event: ChangeEvent): BuildResult {
  const diff = computeDiff(event.op, event.old, event.new);
  const data = buildMessageData(event, diff);
  const attributes: Record<string, string> = {
    operation: event.op,
    table: data.table,
    field_changes: changedColumns(diff).join(','),
    event_id: event.id,
  };
  const key = orderingKey(event);
  // Over-limit messages would be rejected by Pub/Sub on every retry; refusing
  // them here with a 400 lets the sender park them instead of retrying forever.
  for (const [name, value] of Object.entries(attributes)) {
    if (Buffer.byteLength(value) > PUBSUB_LIMITS.attributeValueBytes) {
      return { ok: false, reason: `attribute ${name} would exceed ${PUBSUB_LIMITS.attributeValueBytes} bytes` };
    }
  }
  if (Buffer.byteLength(key) > PUBSUB_LIMITS.orderingKeyBytes) {
    return { ok: false, reason: `ordering key would exceed ${PUBSUB_LIMITS.orderingKeyBytes} bytes` };
  }
  const buf = Buffer.from(JSON.stringify(data), 'utf8');
  if (buf.length > PUBSUB_LIMITS.messageBytes) {
    return { ok: false, reason: `message would exceed ${PUBSUB_LIMITS.messageBytes} bytes` };
  }
  return { ok: true, message: { data: buf, attributes, orderingKey: key }, data };
}
