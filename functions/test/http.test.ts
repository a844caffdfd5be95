// The function over real HTTP: served by functions-framework's own server on
// 127.0.0.1, with an injected fake publisher (the real Pub/Sub client is
// exercised in emulator.test.ts).
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import * as functions from '@google-cloud/functions-framework';
import { readConfig } from '../src/config';
import { createEventsHandler, type LogEntry } from '../src/handler';
import { signBody } from '../src/auth';
import '../src/index'; // registers the production `events` function
import {
  FakePublisher,
  assertMatchesSchema,
  decodeJsonColumns,
  envelope,
  postSigned,
  request,
  signedHeaders,
  startServer,
  type TestServer,
} from './helpers';

const SECRET = 'http-test-secret-3f9a7c1e5b';
const PREVIOUS = 'http-test-previous-secret-0d4e';
const HASURA_SECRET = 'http-test-hasura-secret-91b2';
const TOPIC = 'pgbulk-events-test';
const env: Record<string, string | undefined> = {};
let fake = new FakePublisher();
let logs: LogEntry[] = [];

functions.http(
  'events-under-test',
  createEventsHandler({
    getConfig: () => readConfig(env),
    getPublisher: () => fake,
    log: (e) => logs.push(e),
  }),
);

let server: TestServer;
let url: string;
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  server = await startServer('events-under-test');
  url = server.url;
});
after(async () => {
  await server.close();
});
beforeEach(() => {
  for (const k of Object.keys(env)) delete env[k];
  env['EVENTS_SECRET'] = SECRET;
  env['EVENTS_TOPIC'] = TOPIC;
  fake = new FakePublisher();
  logs = [];
});
afterEach(() => {
  // Every message the function produced conforms to the BigQuery schema file.
  assert.deepEqual(fake.schemaViolations, []);
  // Nothing secret ever reaches the logs.
  const text = JSON.stringify(logs);
  for (const secret of [SECRET, PREVIOUS, HASURA_SECRET]) assert.ok(!text.includes(secret), 'secret leaked into logs');
  assert.ok(!/sha256=[0-9a-f]{16}/.test(text), 'signature leaked into logs');
});

const userRow = { id: '0b0c6f5e-6a36-4a55-9c0e-1f1e4f2a9d01', name: 'User 1' };

describe('method', () => {
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    it(`${method} -> 405 with Allow: POST`, async () => {
      const r = await request(url, { method });
      assert.equal(r.status, 405);
      assert.equal(r.headers['allow'], 'POST');
      assert.equal(fake.published.length, 0);
    });
  }
});

describe('authentication', () => {
  it('good signature -> 200 and one published message', async () => {
    const e = envelope('INSERT', null, userRow);
    const r = await postSigned(url, SECRET, e);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json()['messageId'], 'fake-1');
    assert.equal(r.json()['eventId'], e['id']);
    assert.equal(fake.published.length, 1);
    assert.equal(fake.published[0]?.topic, TOPIC);
  });

  it('bad signature -> 401 with a body that does not say why', async () => {
    const body = JSON.stringify(envelope('INSERT', null, userRow));
    const headers = signedHeaders(SECRET, body);
    headers['x-pgbulk-signature'] = signBody('wrong-secret', headers['x-pgbulk-timestamp'] as string, body);
    const r = await request(url, { body, headers });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { error: 'unauthorized' });
    assert.equal(fake.published.length, 0);
  });

  it('signature of a different body (tampered request) -> 401', async () => {
    const signedFor = JSON.stringify(envelope('INSERT', null, userRow));
    const sent = JSON.stringify(envelope('INSERT', null, { ...userRow, name: 'Mallory' }));
    const r = await request(url, { body: sent, headers: signedHeaders(SECRET, signedFor) });
    assert.equal(r.status, 401);
  });

  it('stale timestamp (replay) -> 401, same body as any other failure', async () => {
    const r = await postSigned(url, SECRET, envelope('INSERT', null, userRow), now() - 301);
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { error: 'unauthorized' });
  });

  it('future timestamp beyond the window -> 401; inside the window -> 200', async () => {
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow), now() + 400)).status, 401);
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow), now() + 200)).status, 200);
  });

  it('honours EVENTS_MAX_SKEW_SECONDS', async () => {
    env['EVENTS_MAX_SKEW_SECONDS'] = '10';
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow), now() - 60)).status, 401);
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow), now() - 2)).status, 200);
  });

  it('Hasura static header: off by default, even with the right HMAC secret', async () => {
    const body = JSON.stringify(envelope('INSERT', null, userRow));
    const r = await request(url, { body, headers: { 'content-type': 'application/json', 'events-secret': SECRET } });
    assert.equal(r.status, 401);
    assert.equal(fake.published.length, 0);
  });

  it('Hasura static header, enabled: its own secret -> 200; the HMAC key or a wrong one -> 401', async () => {
    env['HASURA_EVENTS_SECRET'] = HASURA_SECRET;
    const body = JSON.stringify(envelope('INSERT', null, userRow));
    const hmacKey = await request(url, { body, headers: { 'content-type': 'application/json', 'events-secret': SECRET } });
    assert.equal(hmacKey.status, 401);
    const good = await request(url, { body, headers: { 'content-type': 'application/json', 'events-secret': HASURA_SECRET } });
    assert.equal(good.status, 200, good.text);
    const bad = await request(url, { body, headers: { 'content-type': 'application/json', 'events-secret': HASURA_SECRET + '!' } });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.json(), { error: 'unauthorized' });
    const short = await request(url, { body, headers: { 'content-type': 'application/json', 'events-secret': 'x' } });
    assert.equal(short.status, 401);
    assert.equal(fake.published.length, 1);
  });

  it('missing headers -> 401', async () => {
    const body = JSON.stringify(envelope('INSERT', null, userRow));
    assert.equal((await request(url, { body, headers: { 'content-type': 'application/json' } })).status, 401);
    const onlyTs = { 'content-type': 'application/json', 'x-pgbulk-timestamp': String(now()) };
    assert.equal((await request(url, { body, headers: onlyTs })).status, 401);
    const { 'x-pgbulk-timestamp': _ts, ...onlySig } = signedHeaders(SECRET, body);
    assert.equal((await request(url, { body, headers: onlySig })).status, 401);
    assert.equal(fake.published.length, 0);
  });

  it('authentication happens before validation: an invalid event without credentials -> 401, not 400', async () => {
    const r = await request(url, { body: '{"not":"an event"}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 401);
  });

  it('rotation: the previous secret is accepted while EVENTS_SECRET_PREVIOUS is set, then refused', async () => {
    // Step 1 of the rotation: the function knows both; the relay still signs with the old one.
    env['EVENTS_SECRET'] = SECRET;
    env['EVENTS_SECRET_PREVIOUS'] = PREVIOUS;
    assert.equal((await postSigned(url, PREVIOUS, envelope('INSERT', null, userRow))).status, 200);
    assert.ok(logs.some((l) => l.message.includes('EVENTS_SECRET_PREVIOUS')));
    // Step 2: the relay signs with the new one.
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow))).status, 200);
    // Step 3: the previous secret is removed; it no longer opens the door.
    delete env['EVENTS_SECRET_PREVIOUS'];
    assert.equal((await postSigned(url, PREVIOUS, envelope('INSERT', null, userRow))).status, 401);
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow))).status, 200);
    assert.equal(fake.published.length, 3);
  });

  it('missing secret configuration -> 500 "not configured", never 200, whatever is sent', async () => {
    delete env['EVENTS_SECRET'];
    const e = envelope('INSERT', null, userRow);
    const body = JSON.stringify(e);
    const attempts: Record<string, string>[] = [
      signedHeaders(SECRET, body),
      signedHeaders('', body),
      { 'content-type': 'application/json', 'events-secret': '' },
      { 'content-type': 'application/json', 'events-secret': 'undefined' },
      { 'content-type': 'application/json' },
    ];
    env['HASURA_EVENTS_SECRET'] = HASURA_SECRET;
    attempts.push({ 'content-type': 'application/json', 'events-secret': HASURA_SECRET });
    for (const headers of attempts) {
      const r = await request(url, { body, headers });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json(), { error: 'not configured' });
    }
    env['EVENTS_SECRET'] = '';
    assert.equal((await request(url, { body, headers: attempts[1] })).status, 500);
    assert.equal(fake.published.length, 0);
  });

  it('missing topic configuration -> 500 "not configured"', async () => {
    delete env['EVENTS_TOPIC'];
    const r = await postSigned(url, SECRET, envelope('INSERT', null, userRow));
    assert.equal(r.status, 500);
    assert.equal(fake.published.length, 0);
  });

  it('the topic never comes from the request path or body', async () => {
    const e = { ...envelope('INSERT', null, userRow), topic: 'attacker-topic' };
    const body = JSON.stringify(e);
    const r = await request(`${url}/projects/evil/topics/attacker-topic`, { body, headers: signedHeaders(SECRET, body) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(fake.published.map((p) => p.topic), [TOPIC]);
  });
});

describe('production `events` registration', () => {
  it('without EVENTS_SECRET in the environment it refuses everything', async () => {
    const saved = { secret: process.env['EVENTS_SECRET'], topic: process.env['EVENTS_TOPIC'] };
    delete process.env['EVENTS_SECRET'];
    process.env['EVENTS_TOPIC'] = TOPIC;
    const prod = await startServer('events');
    // The production handler logs to the console; keep test output quiet.
    const origError = console.error;
    console.error = () => undefined;
    try {
      const body = JSON.stringify(envelope('INSERT', null, userRow));
      const json = { 'content-type': 'application/json' };
      for (const headers of [signedHeaders('', body), { ...json, 'events-secret': '' }, json]) {
        const r = await request(prod.url, { body, headers });
        assert.equal(r.status, 500);
      }
      assert.equal((await request(prod.url, { method: 'GET' })).status, 405);
    } finally {
      console.error = origError;
      await prod.close();
      if (saved.secret === undefined) delete process.env['EVENTS_SECRET'];
      else process.env['EVENTS_SECRET'] = saved.secret;
      if (saved.topic === undefined) delete process.env['EVENTS_TOPIC'];
      else process.env['EVENTS_TOPIC'] = saved.topic;
    }
  });
});

describe('before any parsing', () => {
  it('a body over the limit -> 413, not read, nothing published', async () => {
    const big = envelope('INSERT', null, { ...userRow, name: 'x'.repeat(1024 * 1024) });
    const r = await postSigned(url, SECRET, big);
    assert.equal(r.status, 413);
    assert.deepEqual(r.json(), { error: 'body larger than 1048576 bytes' });
    assert.equal(fake.published.length, 0);
    // Just under the limit is accepted.
    const fits = envelope('INSERT', null, { ...userRow, name: 'x'.repeat(1000 * 1000) });
    assert.equal((await postSigned(url, SECRET, fits)).status, 200);
  });
  it('honours EVENTS_MAX_BODY_BYTES', async () => {
    process.env['EVENTS_MAX_BODY_BYTES'] = '200';
    try {
      const r = await postSigned(url, SECRET, envelope('INSERT', null, { ...userRow, name: 'y'.repeat(300) }));
      assert.equal(r.status, 413);
    } finally {
      delete process.env['EVENTS_MAX_BODY_BYTES'];
    }
  });
  it('a body without a declared length -> 411', async () => {
    const body = JSON.stringify(envelope('INSERT', null, userRow));
    const r = await request(url, { body, headers: signedHeaders(SECRET, body), chunked: true });
    assert.equal(r.status, 411);
    assert.equal(fake.published.length, 0);
  });
  for (const contentType of ['text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded', '']) {
    it(`content-type ${JSON.stringify(contentType)} -> 415, even correctly signed`, async () => {
      const body = JSON.stringify(envelope('INSERT', null, userRow));
      const headers: Record<string, string> = { ...signedHeaders(SECRET, body), 'content-type': contentType };
      if (contentType === '') delete headers['content-type'];
      const r = await request(url, { body, headers });
      assert.equal(r.status, 415, r.text);
      assert.equal(fake.published.length, 0);
    });
  }
  it('application/json; charset=utf-8 is accepted', async () => {
    const body = JSON.stringify(envelope('INSERT', null, userRow));
    const headers = { ...signedHeaders(SECRET, body), 'content-type': 'application/json; charset=utf-8' };
    assert.equal((await request(url, { body, headers })).status, 200);
  });
  it('bad JSON -> 400 from the framework, with no stack trace or parser message (NODE_ENV=production)', async () => {
    assert.equal(process.env['NODE_ENV'], 'production');
    const origError = console.error;
    console.error = () => undefined;
    try {
      const body = '{"id": "oops"';
      const r = await request(url, { body, headers: signedHeaders(SECRET, body) });
      assert.equal(r.status, 400);
      assert.doesNotMatch(r.text, /at \S+ \(|SyntaxError|JSON|node_modules/);
    } finally {
      console.error = origError;
    }
    assert.equal(fake.published.length, 0);
  });
});

describe('lossless numbers', () => {
  it('a bigint beyond 2^53 and a long numeric keep every digit in old, new and diff', async () => {
    const body =
      '{"id":"6f1b0c3e-8d2a-4c1e-9b7f-3a5d2e1f0c4b","created_at":"2024-05-01T12:34:56.123456Z",' +
      '"trigger":{"name":"t"},"table":{"schema":"public","name":"accounts"},' +
      '"event":{"op":"UPDATE","data":{"old":{"id":9007199254740993,"balance":12345678901234567890.123456789},' +
      '"new":{"id":9007199254740993,"balance":12345678901234567890.123456790}}}}';
    const r = await request(url, { body, headers: signedHeaders(SECRET, body) });
    assert.equal(r.status, 200, r.text);
    const [p] = fake.published;
    assert.ok(p);
    assert.equal(p.data['old'], '{"id":9007199254740993,"balance":12345678901234567890.123456789}');
    assert.equal(p.data['new'], '{"id":9007199254740993,"balance":12345678901234567890.123456790}');
    assert.equal(p.data['diff'], '{"balance":{"old":12345678901234567890.123456789,"new":12345678901234567890.123456790}}');
    assert.equal(p.message.orderingKey, 'public.accounts:9007199254740993');
  });
});

describe('batches (what pgbulk relay sends)', () => {
  it('answers per event, in order, naming each eventId; publishes the valid ones in request order', async () => {
    const id = '5d0b7c62-2f0e-4a5e-8a63-8f6d2f0b9a10';
    const first = envelope('INSERT', null, { id, v: 1 });
    const bad = envelope('INSERT', null, { v: 'no id' });
    const second = envelope('UPDATE', { id, v: 1 }, { id, v: 2 });
    const r = await postSigned(url, SECRET, [first, bad, second]);
    assert.equal(r.status, 200, r.text);
    const results = r.json()['results'] as Array<Record<string, unknown>>;
    assert.deepEqual(results.map((x) => [x['eventId'], x['status']]), [
      [first['id'], 200],
      [bad['id'], 400],
      [second['id'], 200],
    ]);
    assert.match(String(results[1]?.['error']), /new.id/);
    assert.deepEqual(fake.published.map((p) => p.data['event_id']), [first['id'], second['id']]);
  });
  it('a failed publish is a 503 for that event only', async () => {
    fake.failWith = new Error('14 UNAVAILABLE');
    const r = await postSigned(url, SECRET, [envelope('INSERT', null, userRow)]);
    assert.equal(r.status, 200);
    assert.deepEqual((r.json()['results'] as unknown[])[0], { eventId: (r.json()['results'] as Array<Record<string, unknown>>)[0]?.['eventId'], status: 503, error: 'publish failed' });
  });
  it('an empty batch or one above EVENTS_MAX_BATCH -> 400', async () => {
    assert.equal((await postSigned(url, SECRET, [])).status, 400);
    env['EVENTS_MAX_BATCH'] = '2';
    const three = [1, 2, 3].map(() => envelope('INSERT', null, userRow));
    assert.equal((await postSigned(url, SECRET, three)).status, 400);
    assert.equal(fake.published.length, 0);
  });
});

describe('validation (400 with a reason)', () => {
  it('empty body -> 400', async () => {
    const r = await request(url, { body: '', headers: signedHeaders(SECRET, '') });
    assert.equal(r.status, 400);
  });
  const cases: [string, unknown, RegExp][] = [
    ['missing id', (() => { const e = envelope('INSERT', null, userRow); delete e['id']; return e; })(), /id must be a UUID/],
    ['missing table', (() => { const e = envelope('INSERT', null, userRow); delete e['table']; return e; })(), /table/],
    ['missing event', (() => { const e = envelope('INSERT', null, userRow); delete e['event']; return e; })(), /event must be an object/],
    ['bad created_at', envelope('INSERT', null, userRow, { created_at: 'tomorrow' }), /created_at/],
    ['wrong op', envelope('UPSERT', null, userRow), /event.op must be one of/],
    ['INSERT without new', envelope('INSERT', null, null), /INSERT requires event.data.new/],
    ['DELETE without old', envelope('DELETE', null, null), /DELETE requires event.data.old/],
    ['UPDATE without old', envelope('UPDATE', null, userRow), /UPDATE requires both/],
    ['row without id', envelope('INSERT', null, { name: 'x' }), /new.id/],
  ];
  for (const [name, body, reason] of cases) {
    it(`${name} -> 400`, async () => {
      const r = await postSigned(url, SECRET, body);
      assert.equal(r.status, 400, r.text);
      assert.match(String(r.json()['error']), reason);
      assert.equal(fake.published.length, 0);
    });
  }
});

describe('published messages', () => {
  const id = '5d0b7c62-2f0e-4a5e-8a63-8f6d2f0b9a10';

  it('INSERT: diff and field_changes cover every column of new', async () => {
    const row = { id, name: 'User 7', email_count: 2 };
    const e = envelope('INSERT', null, row);
    assert.equal((await postSigned(url, SECRET, e)).status, 200);
    const [p] = fake.published;
    assert.ok(p);
    assert.deepEqual(p.message.attributes, { operation: 'INSERT', table: 'public.users', field_changes: 'email_count,id,name', event_id: e['id'] });
    assert.equal(p.message.orderingKey, `public.users:${id}`);
    assertMatchesSchema(p.data);
    assert.equal(p.data['event_id'], e['id']);
    assert.equal(p.data['table'], 'public.users');
    assert.equal(p.data['operation'], 'INSERT');
    assert.equal(p.data['created_at'], '2024-05-01T12:34:56.123456Z');
    assert.deepEqual(decodeJsonColumns(p.data), {
      old: null,
      new: row,
      diff: { email_count: { old: null, new: 2 }, id: { old: null, new: id }, name: { old: null, new: 'User 7' } },
    });
  });

  it('UPDATE: only changed columns, sorted', async () => {
    const before = { id, name: 'User 7', z: 1, a: { deep: [1] }, same: 's' };
    const after = { id, name: 'User 8', z: 2, a: { deep: [1, 2] }, same: 's' };
    const e = envelope('UPDATE', before, after, { table: 'emails' });
    assert.equal((await postSigned(url, SECRET, e)).status, 200);
    const [p] = fake.published;
    assert.ok(p);
    assert.equal(p.message.attributes['field_changes'], 'a,name,z');
    assert.equal(p.message.attributes['table'], 'public.emails');
    assert.equal(p.message.orderingKey, `public.emails:${id}`);
    assert.deepEqual(decodeJsonColumns(p.data).diff, {
      a: { old: { deep: [1] }, new: { deep: [1, 2] } },
      name: { old: 'User 7', new: 'User 8' },
      z: { old: 1, new: 2 },
    });
  });

  it('UPDATE that changes nothing: empty field_changes and diff', async () => {
    const row = { id, name: 'same' };
    assert.equal((await postSigned(url, SECRET, envelope('UPDATE', row, { ...row }))).status, 200);
    const [p] = fake.published;
    assert.ok(p);
    assert.equal(p.message.attributes['field_changes'], '');
    assert.equal(p.data['diff'], '{}');
  });

  it('DELETE: diff and field_changes cover every column of old', async () => {
    const row = { id, user_id: 'u', phone_number: '0123456789012345' };
    const e = envelope('DELETE', row, null, { schema: 'app', table: 'phone_numbers' });
    assert.equal((await postSigned(url, SECRET, e)).status, 200);
    const [p] = fake.published;
    assert.ok(p);
    assert.deepEqual(p.message.attributes, { operation: 'DELETE', table: 'app.phone_numbers', field_changes: 'id,phone_number,user_id', event_id: e['id'] });
    assert.equal(p.message.orderingKey, `app.phone_numbers:${id}`);
    assert.equal(p.data['new'], null);
    assert.deepEqual(decodeJsonColumns(p.data).old, row);
  });

  it('MANUAL is published like an INSERT of the current row', async () => {
    assert.equal((await postSigned(url, SECRET, envelope('MANUAL', null, { id: 9, v: 'x' }))).status, 200);
    const [p] = fake.published;
    assert.ok(p);
    assert.equal(p.message.attributes['operation'], 'MANUAL');
    assert.equal(p.message.attributes['field_changes'], 'id,v');
    assert.equal(p.message.orderingKey, 'public.users:9');
  });

  it('a redelivery carries the same event_id', async () => {
    const e = envelope('INSERT', null, userRow);
    assert.equal((await postSigned(url, SECRET, e)).status, 200);
    assert.equal((await postSigned(url, SECRET, e)).status, 200);
    assert.equal(fake.published.length, 2);
    assert.equal(fake.published[0]?.data['event_id'], fake.published[1]?.data['event_id']);
  });
});

describe('publish failure', () => {
  it('-> 503 so the sender retries; nothing reported as published', async () => {
    fake.failWith = new Error('14 UNAVAILABLE: no connection');
    const r = await postSigned(url, SECRET, envelope('INSERT', null, userRow));
    assert.equal(r.status, 503);
    assert.deepEqual(r.json(), { error: 'publish failed' });
    assert.ok(logs.some((l) => l.message === 'publish failed'));
    // The same event succeeds once Pub/Sub is back.
    fake.failWith = null;
    assert.equal((await postSigned(url, SECRET, envelope('INSERT', null, userRow))).status, 200);
  });
});
