// Pure-function tests: authentication, envelope validation, message building,
// and the schema file itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authenticate, constantTimeEqual, signBody } from '../src/auth';
import { maxBodyBytes, readConfig } from '../src/config';
import { buildMessage, changedColumns, computeDiff, orderingKey } from '../src/message';
import { normaliseTimestamp, parseEnvelope, validateEnvelope } from '../src/validate';
import { assertMatchesSchema, decodeJsonColumns, envelope, loadSchema, schemaErrors } from './helpers';

const SECRET = 'unit-test-secret-0123456789';
const NOW = 1_700_000_000;

const HASURA = 'hasura-static-secret-6a1c0d';

function auth(
  headers: Record<string, string | string[]>,
  body = '{}',
  secret = SECRET,
  extra: { previous?: string; hasura?: string } = { hasura: HASURA },
) {
  const secrets = extra.previous === undefined ? [secret] : [secret, extra.previous];
  return authenticate({
    headers,
    rawBody: Buffer.from(body),
    secrets,
    hasuraSecret: extra.hasura,
    maxSkewSeconds: 300,
    nowSeconds: NOW,
  });
}

describe('constantTimeEqual', () => {
  it('compares by content, including different lengths', () => {
    assert.equal(constantTimeEqual('abc', 'abc'), true);
    assert.equal(constantTimeEqual('abc', 'abd'), false);
    assert.equal(constantTimeEqual('abc', 'abcd'), false);
    assert.equal(constantTimeEqual('', 'a'), false);
    assert.equal(constantTimeEqual(Buffer.from('x'), 'x'), true);
  });
});

describe('authenticate', () => {
  const body = '{"a":1}';
  const sig = signBody(SECRET, String(NOW), body);

  it('accepts a good signature within the window', () => {
    assert.deepEqual(auth({ 'x-pgbulk-timestamp': String(NOW), 'x-pgbulk-signature': sig }, body), { ok: true, scheme: 'hmac' });
    const past = String(NOW - 300);
    assert.equal(auth({ 'x-pgbulk-timestamp': past, 'x-pgbulk-signature': signBody(SECRET, past, body) }, body).ok, true);
  });
  it('signs exactly `${timestamp}.${body}` with HMAC-SHA256, lowercase hex', () => {
    // Known value, computed independently:
    //   printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac unit-test-secret-0123456789
    assert.equal(sig, 'sha256=9674a6605079dd624a9b39c6bc7c8da00d981fdbca5d18364977b93a5edcc47e');
  });
  it('rejects a signature over a different body, timestamp or secret', () => {
    assert.equal(auth({ 'x-pgbulk-timestamp': String(NOW), 'x-pgbulk-signature': sig }, '{"a":2}').ok, false);
    assert.equal(auth({ 'x-pgbulk-timestamp': String(NOW + 1), 'x-pgbulk-signature': sig }, body).ok, false);
    assert.equal(auth({ 'x-pgbulk-timestamp': String(NOW), 'x-pgbulk-signature': signBody('other', String(NOW), body) }, body).ok, false);
    assert.equal(auth({ 'x-pgbulk-timestamp': String(NOW), 'x-pgbulk-signature': sig.toUpperCase() }, body).ok, false);
    assert.equal(auth({ 'x-pgbulk-timestamp': String(NOW), 'x-pgbulk-signature': sig.slice(7) }, body).ok, false);
  });
  it('rejects stale and future timestamps beyond the window even when correctly signed', () => {
    for (const ts of [NOW - 301, NOW + 301, 0]) {
      const t = String(ts);
      const r = auth({ 'x-pgbulk-timestamp': t, 'x-pgbulk-signature': signBody(SECRET, t, body) }, body);
      assert.equal(r.ok, false, `timestamp ${t}`);
    }
  });
  it('rejects malformed timestamps even when correctly signed', () => {
    for (const t of ['1700000000.5', '-1700000000', ' 1700000000', '1e9', '']) {
      const r = auth({ 'x-pgbulk-timestamp': t, 'x-pgbulk-signature': signBody(SECRET, t, body) }, body);
      assert.equal(r.ok, false, `timestamp ${JSON.stringify(t)}`);
    }
  });
  it('accepts the static Hasura header only when equal to HASURA_EVENTS_SECRET', () => {
    assert.deepEqual(auth({ 'events-secret': HASURA }), { ok: true, scheme: 'static' });
    assert.equal(auth({ 'events-secret': HASURA + 'x' }).ok, false);
    assert.equal(auth({ 'events-secret': HASURA.slice(1) }).ok, false);
    assert.equal(auth({ 'events-secret': '' }).ok, false);
    assert.equal(auth({ 'events-secret': [HASURA, HASURA] }).ok, false);
  });
  it('never takes the HMAC key as the static header', () => {
    assert.equal(auth({ 'events-secret': SECRET }).ok, false);
  });
  it('accepts no static header at all unless HASURA_EVENTS_SECRET is set', () => {
    assert.equal(auth({ 'events-secret': HASURA }, '{}', SECRET, {}).ok, false);
    assert.equal(auth({ 'events-secret': SECRET }, '{}', SECRET, {}).ok, false);
  });
  it('accepts the previous secret during a rotation, and says so', () => {
    const t = String(NOW);
    const old = 'previous-secret-77f0';
    const signedOld = { 'x-pgbulk-timestamp': t, 'x-pgbulk-signature': signBody(old, t, body) };
    assert.deepEqual(auth(signedOld, body, SECRET, { previous: old }), { ok: true, scheme: 'hmac-previous' });
    assert.equal(auth(signedOld, body, SECRET, {}).ok, false); // rotation finished: refused
    const signedNew = { 'x-pgbulk-timestamp': t, 'x-pgbulk-signature': sig };
    assert.deepEqual(auth(signedNew, body, SECRET, { previous: old }), { ok: true, scheme: 'hmac' });
    const signedOther = { 'x-pgbulk-timestamp': t, 'x-pgbulk-signature': signBody('neither', t, body) };
    assert.equal(auth(signedOther, body, SECRET, { previous: old }).ok, false);
  });
  it('rejects requests with no credentials', () => {
    assert.equal(auth({}).ok, false);
    assert.equal(auth({ 'x-pgbulk-timestamp': String(NOW) }).ok, false);
    assert.equal(auth({ 'x-pgbulk-signature': sig }).ok, false);
  });
  it('never authenticates with an empty secret', () => {
    assert.equal(auth({ 'events-secret': '' }, '{}', '', { hasura: '' }).ok, false);
    const t = String(NOW);
    assert.equal(auth({ 'x-pgbulk-timestamp': t, 'x-pgbulk-signature': signBody('', t, '{}') }, '{}', '').ok, false);
  });
});

describe('readConfig', () => {
  it('fails closed without a secret or topic, or with bad numbers', () => {
    assert.equal(readConfig({ EVENTS_TOPIC: 't' }).ok, false);
    assert.equal(readConfig({ EVENTS_SECRET: '', EVENTS_TOPIC: 't' }).ok, false);
    assert.equal(readConfig({ EVENTS_SECRET: 's' }).ok, false);
    assert.equal(readConfig({ EVENTS_SECRET: 's', EVENTS_TOPIC: 't', EVENTS_MAX_SKEW_SECONDS: 'ten' }).ok, false);
    assert.equal(readConfig({ EVENTS_SECRET: 's', EVENTS_TOPIC: 't', EVENTS_PUBLISH_TIMEOUT_MS: '0' }).ok, false);
  });
  it('applies defaults', () => {
    const r = readConfig({ EVENTS_SECRET: 's', EVENTS_TOPIC: ' pgbulk-events ' });
    assert.deepEqual(r, {
      ok: true,
      config: {
        secrets: ['s'],
        hasuraSecret: undefined,
        topic: 'pgbulk-events',
        maxSkewSeconds: 300,
        publishTimeoutMs: 20000,
        maxBatch: 1000,
      },
    });
  });
  it('reads the previous secret and the Hasura secret, and keeps them apart', () => {
    const r = readConfig({ EVENTS_SECRET: 'new', EVENTS_SECRET_PREVIOUS: 'old', HASURA_EVENTS_SECRET: 'h', EVENTS_TOPIC: 't' });
    assert.ok(r.ok);
    assert.deepEqual(r.config.secrets, ['new', 'old']);
    assert.equal(r.config.hasuraSecret, 'h');
    assert.equal(readConfig({ EVENTS_SECRET: 's', HASURA_EVENTS_SECRET: 's', EVENTS_TOPIC: 't' }).ok, false);
    assert.equal(readConfig({ EVENTS_SECRET: 's', EVENTS_SECRET_PREVIOUS: 'p', HASURA_EVENTS_SECRET: 'p', EVENTS_TOPIC: 't' }).ok, false);
  });
  it('bounds the body limit: an invalid setting keeps the default', () => {
    assert.equal(maxBodyBytes({}), 1024 * 1024);
    assert.equal(maxBodyBytes({ EVENTS_MAX_BODY_BYTES: '2048' }), 2048);
    assert.equal(maxBodyBytes({ EVENTS_MAX_BODY_BYTES: 'lots' }), 1024 * 1024);
    assert.equal(maxBodyBytes({ EVENTS_MAX_BODY_BYTES: '0' }), 1024 * 1024);
  });
});

describe('normaliseTimestamp', () => {
  it('normalises common spellings to UTC microseconds', () => {
    assert.equal(normaliseTimestamp('2024-05-01T12:34:56.123456Z'), '2024-05-01T12:34:56.123456Z');
    assert.equal(normaliseTimestamp('2024-05-01T12:34:56.123456'), '2024-05-01T12:34:56.123456Z'); // Hasura: UTC, no zone
    assert.equal(normaliseTimestamp('2024-05-01 12:34:56.1+00'), '2024-05-01T12:34:56.100000Z'); // PostgreSQL text
    assert.equal(normaliseTimestamp('2024-05-01T14:34:56.123456789+02:00'), '2024-05-01T12:34:56.123456Z');
    assert.equal(normaliseTimestamp('2024-05-01T00:00:00-0130'), '2024-05-01T01:30:00.000000Z');
    assert.equal(normaliseTimestamp('2024-12-31T23:30:00-01:00'), '2025-01-01T00:30:00.000000Z');
    assert.equal(normaliseTimestamp('0099-01-01T00:00:00Z'), '0099-01-01T00:00:00.000000Z');
  });
  it('rejects invalid timestamps', () => {
    for (const t of ['2024-02-30T00:00:00Z', '2024-13-01T00:00:00Z', '2024-05-01T24:00:00Z', 'yesterday', '2024-05-01', '1714566896', '0000-01-01T00:00:00Z', '9999-12-31T23:00:00-02:00']) {
      assert.equal(normaliseTimestamp(t), null, t);
    }
  });
});

describe('validateEnvelope', () => {
  const row = { id: 'u1', name: 'User 1' };
  const ok = (e: unknown) => validateEnvelope(e).ok;
  const reason = (e: unknown): string => {
    const r = validateEnvelope(e);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.reason;
  };
  it('accepts each operation with the right rows', () => {
    assert.equal(ok(envelope('INSERT', null, row)), true);
    assert.equal(ok(envelope('UPDATE', row, { ...row, name: 'x' })), true);
    assert.equal(ok(envelope('DELETE', row, null)), true);
    assert.equal(ok(envelope('MANUAL', null, row)), true);
    assert.equal(ok(envelope('INSERT', null, { id: 42 })), true);
  });
  it('enforces which rows each operation carries', () => {
    assert.match(reason(envelope('INSERT', null, null)), /INSERT requires event.data.new/);
    assert.match(reason(envelope('INSERT', row, row)), /old to be null/);
    assert.match(reason(envelope('DELETE', null, null)), /DELETE requires event.data.old/);
    assert.match(reason(envelope('DELETE', row, row)), /new to be null/);
    assert.match(reason(envelope('UPDATE', null, row)), /UPDATE requires both/);
    assert.match(reason(envelope('UPDATE', row, null)), /UPDATE requires both/);
  });
  it('rejects wrong ops, row shapes and missing ids', () => {
    assert.match(reason(envelope('TRUNCATE', null, row)), /event.op must be one of/);
    assert.match(reason(envelope('insert', null, row)), /event.op/);
    assert.match(reason(envelope('INSERT', null, [row] as unknown as Record<string, unknown>)), /new must be an object/);
    assert.match(reason(envelope('INSERT', null, { name: 'no id' })), /new.id/);
    assert.match(reason(envelope('INSERT', null, { id: null })), /new.id/);
    assert.match(reason(envelope('DELETE', { id: '' }, null)), /old.id/);
    assert.match(reason(envelope('UPDATE', { id: true }, row)), /old.id/);
  });
  it('rejects missing or malformed envelope fields', () => {
    const base = envelope('INSERT', null, row);
    const without = (k: string) => { const c = { ...base }; delete c[k]; return c; };
    assert.match(reason(without('id')), /id must be a UUID/);
    assert.match(reason({ ...base, id: 'not-a-uuid' }), /id must be a UUID/);
    assert.match(reason(without('created_at')), /created_at/);
    assert.match(reason({ ...base, created_at: 'soon' }), /created_at/);
    assert.match(reason(without('trigger')), /trigger.name/);
    assert.match(reason({ ...base, trigger: { name: '' } }), /trigger.name/);
    assert.match(reason(without('table')), /table must be an object/);
    assert.match(reason({ ...base, table: { schema: 'public' } }), /table.name/);
    assert.match(reason({ ...base, table: { name: 'users' } }), /table.schema/);
    assert.match(reason(without('event')), /event must be an object/);
    assert.match(reason({ ...base, event: { op: 'INSERT' } }), /event.data/);
    assert.match(reason([base]), /JSON object/);
    assert.match(reason(null), /JSON object/);
  });
  it('parses raw bytes, rejecting bad JSON and bad UTF-8', () => {
    assert.match((parseEnvelope(Buffer.from('{"id":')) as { reason: string }).reason, /not valid JSON/);
    assert.match((parseEnvelope(Buffer.from([0x7b, 0xff, 0x7d])) as { reason: string }).reason, /UTF-8/);
    assert.equal(parseEnvelope(Buffer.from(JSON.stringify(envelope('INSERT', null, row)))).ok, true);
  });
  it('accepts a Hasura envelope without delivery_info and with extra fields', () => {
    const e = envelope('INSERT', null, row);
    delete e['delivery_info'];
    e['extra'] = { anything: true };
    assert.equal(ok(e), true);
  });
});

describe('diff, field_changes and ordering key', () => {
  it('INSERT: every column of new', () => {
    const d = computeDiff('INSERT', null, { name: 'a', id: 1, tags: ['x'] });
    assert.deepEqual(JSON.parse(JSON.stringify(d)), { id: { old: null, new: 1 }, name: { old: null, new: 'a' }, tags: { old: null, new: ['x'] } });
    assert.deepEqual(changedColumns(d), ['id', 'name', 'tags']);
  });
  it('DELETE: every column of old', () => {
    const d = computeDiff('DELETE', { id: 1, email: 'e' }, null);
    assert.deepEqual(JSON.parse(JSON.stringify(d)), { email: { old: 'e', new: null }, id: { old: 1, new: null } });
  });
  it('UPDATE: only differing columns, compared deeply', () => {
    const d = computeDiff(
      'UPDATE',
      { id: 1, name: 'a', meta: { k: [1, 2], j: 1 }, same: { x: 1, y: 2 }, gone: 5, n: null },
      { id: 1, name: 'b', meta: { k: [1, 3], j: 1 }, same: { y: 2, x: 1 }, added: 7, n: null },
    );
    assert.deepEqual(JSON.parse(JSON.stringify(d)), {
      added: { old: null, new: 7 },
      gone: { old: 5, new: null },
      meta: { old: { k: [1, 2], j: 1 }, new: { k: [1, 3], j: 1 } },
      name: { old: 'a', new: 'b' },
    });
    assert.deepEqual(changedColumns(d), ['added', 'gone', 'meta', 'name']);
  });
  it('UPDATE with no change has an empty diff', () => {
    assert.deepEqual(changedColumns(computeDiff('UPDATE', { id: 1, a: 1 }, { a: 1, id: 1 })), []);
  });
  it('a column named __proto__ is data', () => {
    const row = JSON.parse('{"id":1,"__proto__":{"polluted":true}}') as Record<string, never>;
    const d = computeDiff('INSERT', null, row);
    assert.deepEqual(changedColumns(d), ['__proto__', 'id']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
  it('ordering key is <schema>.<table>:<row id>', () => {
    assert.equal(orderingKey({ schema: 'public', table: 'users', rowId: 'abc' }), 'public.users:abc');
    assert.equal(orderingKey({ schema: 's', table: 't', rowId: 42 }), 's.t:42');
  });
  it('builds schema-conforming messages with JSON-text columns', () => {
    const r = validateEnvelope(envelope('UPDATE', { id: 'u1', name: 'a', email: 'x' }, { id: 'u1', name: 'b', email: 'x' }, { id: '6f1c1a40-58a1-4c57-9a77-2f3c1f0e9f11' }));
    assert.ok(r.ok);
    const b = buildMessage(r.event);
    assert.ok(b.ok);
    const data = JSON.parse(b.message.data.toString()) as Record<string, unknown>;
    assertMatchesSchema(data);
    assert.deepEqual(b.message.attributes, { operation: 'UPDATE', table: 'public.users', field_changes: 'name', event_id: '6f1c1a40-58a1-4c57-9a77-2f3c1f0e9f11' });
    assert.equal(b.message.orderingKey, 'public.users:u1');
    assert.deepEqual(decodeJsonColumns(data), {
      old: { id: 'u1', name: 'a', email: 'x' },
      new: { id: 'u1', name: 'b', email: 'x' },
      diff: { name: { old: 'a', new: 'b' } },
    });
  });
  it('refuses messages over Pub/Sub limits instead of failing every retry', () => {
    const r = validateEnvelope(envelope('INSERT', null, { id: 'x'.repeat(1100) }));
    assert.ok(r.ok);
    const b = buildMessage(r.event);
    assert.equal(b.ok, false);
  });
});

describe('schema file (shared contract with deploy/)', () => {
  it('describes exactly the published fields', () => {
    const schema = loadSchema();
    assert.deepEqual(schema.map((f) => [f.name, f.type, f.mode]), [
      ['event_id', 'STRING', 'REQUIRED'],
      ['table', 'STRING', 'REQUIRED'],
      ['operation', 'STRING', 'REQUIRED'],
      ['old', 'STRING', 'NULLABLE'],
      ['new', 'STRING', 'NULLABLE'],
      ['diff', 'STRING', 'REQUIRED'],
      ['created_at', 'TIMESTAMP', 'REQUIRED'],
    ]);
    for (const f of schema) assert.ok(typeof f.description === 'string' && f.description.length > 0, f.name);
  });
  it('the validator catches missing, extra, null-required and mistyped fields', () => {
    const good = { event_id: 'e', table: 'public.users', operation: 'INSERT', old: null, new: '{}', diff: '{}', created_at: '2024-05-01T12:34:56.123456Z' };
    assert.deepEqual(schemaErrors(good), []);
    const { diff: _d, ...missing } = good;
    assert.ok(schemaErrors(missing).some((e) => e.startsWith('diff:')));
    assert.ok(schemaErrors({ ...good, extra: 1 }).some((e) => e.startsWith('extra:')));
    assert.ok(schemaErrors({ ...good, event_id: null }).some((e) => e.startsWith('event_id:')));
    assert.ok(schemaErrors({ ...good, new: { id: 1 } }).some((e) => e.startsWith('new:')));
    assert.ok(schemaErrors({ ...good, created_at: '2024-05-01' }).some((e) => e.startsWith('created_at:')));
  });
});
