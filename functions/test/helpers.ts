// Shared test helpers: signed requests over real HTTP, envelope builders, a
// fake publisher, and a tiny validator for the BigQuery schema contract.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { signBody } from '../src/auth';
import type { EventPublisher } from '../src/publisher';
import type { OutgoingMessage } from '../src/message';

// ---------------------------------------------------------------- HTTP

export interface TestServer {
  url: string;
  close: () => Promise<void>;
}

/** Serve a registered function through functions-framework on 127.0.0.1, random port. */
export async function startServer(functionName: string): Promise<TestServer> {
  const server = getTestServer(functionName);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: () => Record<string, unknown>;
}

export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean } = {},
): Promise<HttpResponse> {
  const headers = { ...(options.headers ?? {}) };
  // As the relay and Hasura send it: with a content-length (unless testing chunked bodies).
  if (options.body !== undefined && !options.chunked) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: () => JSON.parse(text) as Record<string, unknown>,
        });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Headers of a correctly signed request. */
export function signedHeaders(secret: string, body: string | Buffer, timestamp?: number): Record<string, string> {
  const ts = String(timestamp ?? Math.floor(Date.now() / 1000));
  return {
    'content-type': 'application/json',
    'x-pgbulk-timestamp': ts,
    'x-pgbulk-signature': signBody(secret, ts, body),
  };
}

export function postSigned(url: string, secret: string, envelope: unknown, timestamp?: number): Promise<HttpResponse> {
  const body = JSON.stringify(envelope);
  return request(url, { body, headers: signedHeaders(secret, body, timestamp) });
}

// ---------------------------------------------------------------- envelopes

export type Row = Record<string, unknown>;

export function envelope(
  op: string,
  oldRow: Row | null,
  newRow: Row | null,
  overrides: { id?: string; schema?: string; table?: string; created_at?: string } = {},
): Record<string, unknown> {
  return {
    id: overrides.id ?? randomUUID(),
    created_at: overrides.created_at ?? '2024-05-01T12:34:56.123456Z',
    trigger: { name: 'pgbulk_users' },
    table: { schema: overrides.schema ?? 'public', name: overrides.table ?? 'users' },
    event: {
      op,
      data: { old: oldRow, new: newRow },
      session_variables: null,
      trace_context: null,
    },
    delivery_info: { max_retries: 0, current_retry: 0 },
  };
}

// ---------------------------------------------------------------- fake publisher

export interface Published {
  topic: string;
  message: OutgoingMessage;
  data: Record<string, unknown>;
}

/** Records messages; fails on demand; checks every message against the schema file. */
export class FakePublisher implements EventPublisher {
  readonly published: Published[] = [];
  readonly schemaViolations: string[] = [];
  failWith: Error | null = null;
  private n = 0;

  async publish(topic: string, message: OutgoingMessage): Promise<string> {
    const data = JSON.parse(message.data.toString('utf8')) as Record<string, unknown>;
    this.schemaViolations.push(...schemaErrors(data));
    if (this.failWith !== null) throw this.failWith;
    this.published.push({ topic, message, data });
    this.n += 1;
    return `fake-${this.n}`;
  }

  async publishAll(topic: string, messages: OutgoingMessage[]): Promise<string[]> {
    if (this.failWith !== null) throw this.failWith;
    const ids: string[] = [];
    for (const m of messages) ids.push(await this.publish(topic, m));
    return ids;
  }
}

// ---------------------------------------------------------------- schema contract

export interface BqField {
  name: string;
  type: string;
  mode: 'REQUIRED' | 'NULLABLE' | 'REPEATED';
  description?: string;
}

// Compiled tests live in dist/test; the schema file is functions/schema.
export const SCHEMA_PATH = path.resolve(__dirname, '..', '..', 'schema', 'event-message.bq.json');

export function loadSchema(): BqField[] {
  return JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as BqField[];
}

// BigQuery accepts more TIMESTAMP spellings; the function promises exactly this one.
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function typeError(field: BqField, value: unknown): string | null {
  switch (field.type) {
    case 'STRING':
      return typeof value === 'string' ? null : 'expected a string';
    case 'TIMESTAMP':
      return typeof value === 'string' && TIMESTAMP_RE.test(value) && !Number.isNaN(Date.parse(value))
        ? null
        : 'expected a UTC timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ';
    case 'JSON':
      return null; // any JSON value
    case 'INTEGER':
    case 'INT64':
      return Number.isInteger(value) || (typeof value === 'string' && /^-?\d+$/.test(value)) ? null : 'expected an integer';
    case 'FLOAT':
    case 'FLOAT64':
      return typeof value === 'number' ? null : 'expected a number';
    case 'BOOLEAN':
    case 'BOOL':
      return typeof value === 'boolean' ? null : 'expected a boolean';
    default:
      return `validator does not know type ${field.type}`;
  }
}

/** Every way `data` departs from the schema file (empty when it conforms). */
export function schemaErrors(data: unknown, schema: BqField[] = loadSchema()): string[] {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return ['message data is not a JSON object'];
  const obj = data as Record<string, unknown>;
  const errors: string[] = [];
  const names = new Set(schema.map((f) => f.name));
  for (const key of Object.keys(obj)) {
    if (!names.has(key)) errors.push(`${key}: not in the schema`);
  }
  for (const field of schema) {
    const value = obj[field.name];
    if (value === undefined || value === null) {
      if (field.mode === 'REQUIRED') errors.push(`${field.name}: required but ${value === null ? 'null' : 'missing'}`);
      continue;
    }
    if (field.mode === 'REPEATED') {
      if (!Array.isArray(value)) errors.push(`${field.name}: expected an array`);
      else value.forEach((v, i) => { const e = typeError(field, v); if (e) errors.push(`${field.name}[${i}]: ${e}`); });
      continue;
    }
    const e = typeError(field, value);
    if (e !== null) errors.push(`${field.name}: ${e}`);
  }
  return errors;
}

export function assertMatchesSchema(data: unknown): void {
  assert.deepEqual(schemaErrors(data), [], `message does not match ${SCHEMA_PATH}: ${JSON.stringify(data)}`);
}

/** Parse the JSON-text columns of a message back into values. */
export function decodeJsonColumns(data: Record<string, unknown>): { old: unknown; new: unknown; diff: Record<string, { old: unknown; new: unknown }> } {
  const parse = (v: unknown): unknown => (v === null ? null : JSON.parse(v as string));
  return {
    old: parse(data['old']),
    new: parse(data['new']),
    diff: parse(data['diff']) as Record<string, { old: unknown; new: unknown }>,
  };
}
