// Integration: the production `events` function (real @google-cloud/pubsub
// client) served by functions-framework on 127.0.0.1, publishing to the
// Google Cloud SDK's Pub/Sub emulator, which this test starts and always stops.
//
// Skips (one line) when the emulator is not installed, except under CI=true,
// where a missing or broken emulator is a failure: CI must not go green
// without having run this.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { shutdown } from '../src/index'; // registers `events`
import { assertMatchesSchema, decodeJsonColumns, envelope, postSigned, startServer, type TestServer } from './helpers';

const EMULATOR_BIN =
  process.env['PUBSUB_EMULATOR_BIN'] ??
  '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator';
const IN_CI = process.env['CI'] === 'true';
const HAVE_EMULATOR = existsSync(EMULATOR_BIN);
const SKIP = !HAVE_EMULATOR && !IN_CI ? `Pub/Sub emulator not installed at ${EMULATOR_BIN}` : false;

const PROJECT = 'pgbulk-test';
const TOPIC = 'pgbulk-events';
const SECRET = 'emulator-test-secret-5e2d9b';

// ------------------------------------------------------------ emulator process

interface Emulator {
  host: string;
  child: ChildProcess;
  output: () => string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Negative pid: the whole process group (the launcher script and its JVM).
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function stopEmulator(emu: Emulator): Promise<void> {
  const { child } = emu;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!done) {
    killGroup(child, 'SIGKILL');
    await exited;
  }
}

async function startEmulator(): Promise<Emulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn(EMULATOR_BIN, ['--host=127.0.0.1', `--port=${port}`], {
    detached: true, // own process group, so killGroup reaches the JVM too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // If this test process dies abruptly, take the emulator down with it.
  const onExit = () => killGroup(child, 'SIGKILL');
  process.once('exit', onExit);
  child.once('exit', () => process.removeListener('exit', onExit));
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const emu: Emulator = { host, child, output: () => log };
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const tail = log.trim().split('\n').slice(-3).join(' | ');
      throw new Error(`emulator exited with code ${child.exitCode}; last output: ${tail}`);
    }
    const err = await Promise.race([spawnError, sleep(0).then(() => null)]);
    if (err) throw err;
    try {
      const res = await fetch(`http://${host}/`);
      if (res.ok) return emu;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  await stopEmulator(emu);
  throw new Error(`emulator did not become ready within 60 s:\n${log}`);
}

// ------------------------------------------------------------ pulling

async function pull(subscription: Subscription, count: number, timeoutMs: number): Promise<Message[]> {
  const got: Message[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`received ${got.length} of ${count} messages within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: Message) => {
      got.push(m);
      m.ack();
      if (got.length >= count) {
        cleanup();
        resolve();
      }
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      clearTimeout(timer);
      subscription.removeListener('message', onMessage);
      subscription.removeListener('error', onError);
    };
    subscription.on('message', onMessage);
    subscription.on('error', onError);
  });
  await subscription.close();
  return got;
}

// ------------------------------------------------------------ tests

describe('through the Pub/Sub emulator', { skip: SKIP }, () => {
  let emu: Emulator | undefined;
  let startError: Error | undefined;
  let admin: PubSub | undefined;
  let server: TestServer | undefined;

  before(async () => {
    if (!HAVE_EMULATOR) throw new Error(`CI=true but the Pub/Sub emulator is missing at ${EMULATOR_BIN}`);
    try {
      emu = await startEmulator();
    } catch (err) {
      if (IN_CI) throw err;
      startError = err as Error;
      return;
    }
    process.env['PUBSUB_EMULATOR_HOST'] = emu.host;
    process.env['METADATA_SERVER_DETECTION'] = 'none';
    process.env['GOOGLE_CLOUD_PROJECT'] = PROJECT;
    process.env['EVENTS_SECRET'] = SECRET;
    process.env['EVENTS_TOPIC'] = TOPIC;
    process.env['EVENTS_PUBLISH_TIMEOUT_MS'] = '3000';
    admin = new PubSub({ projectId: PROJECT });
    server = await startServer('events');
  });

  after(async () => {
    await server?.close();
    await shutdown().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    if (emu) await stopEmulator(emu);
    if (emu?.child.pid !== undefined) {
      // The whole group is gone: signalling it now must fail.
      assert.throws(() => process.kill(-(emu as Emulator).child.pid!, 0));
    }
  });

  function ready(t: { skip: (msg: string) => void }): boolean {
    if (startError) {
      t.skip(`emulator failed to start: ${startError.message.split('\n')[0]}`);
      return false;
    }
    return true;
  }

  it('publishes every event with the right data, attributes and per-row order', async (t) => {
    if (!ready(t)) return;
    const [topic] = await admin!.createTopic(TOPIC);
    const [subscription] = await topic.createSubscription('pgbulk-events-check', { enableMessageOrdering: true });

    const a = randomUUID();
    const b = randomUUID();
    const c = randomUUID();
    const userA = { id: a, name: 'User 1' };
    const userB = { id: b, name: 'User 2' };
    const emailC = { id: c, user_id: a, email: `user${a}_0@example.com` };
    // A scripted series interleaving three rows of two tables.
    const script: { env: Record<string, unknown>; key: string; fields: string }[] = [
      { env: envelope('INSERT', null, userA), key: `public.users:${a}`, fields: 'id,name' },
      { env: envelope('INSERT', null, userB), key: `public.users:${b}`, fields: 'id,name' },
      { env: envelope('UPDATE', userA, { ...userA, name: 'User 1b' }), key: `public.users:${a}`, fields: 'name' },
      { env: envelope('INSERT', null, emailC, { table: 'emails' }), key: `public.emails:${c}`, fields: 'email,id,user_id' },
      { env: envelope('UPDATE', userB, { ...userB, name: 'User 2b' }), key: `public.users:${b}`, fields: 'name' },
      { env: envelope('UPDATE', { ...userA, name: 'User 1b' }, { ...userA, name: 'User 1b' }), key: `public.users:${a}`, fields: '' },
      { env: envelope('DELETE', { ...userB, name: 'User 2b' }, null), key: `public.users:${b}`, fields: 'id,name' },
      { env: envelope('UPDATE', emailC, { ...emailC, email: 'changed@example.com' }, { table: 'emails' }), key: `public.emails:${c}`, fields: 'email' },
      { env: envelope('UPDATE', { ...userA, name: 'User 1b' }, { ...userA, name: 'User 1c' }), key: `public.users:${a}`, fields: 'name' },
      { env: envelope('DELETE', { ...emailC, email: 'changed@example.com' }, null, { table: 'emails' }), key: `public.emails:${c}`, fields: 'email,id,user_id' },
      { env: envelope('DELETE', { ...userA, name: 'User 1c' }, null), key: `public.users:${a}`, fields: 'id,name' },
    ];

    const messageIds: string[] = [];
    for (const step of script) {
      const r = await postSigned(server!.url, SECRET, step.env);
      assert.equal(r.status, 200, r.text);
      messageIds.push(String(r.json()['messageId']));
    }

    const received = await pull(subscription, script.length, 30_000);
    assert.equal(received.length, script.length);

    const byEventId = new Map(script.map((s, i) => [String(s.env['id']), { ...s, index: i }]));
    for (const m of received) {
      const data = JSON.parse(m.data.toString('utf8')) as Record<string, unknown>;
      assertMatchesSchema(data);
      const step = byEventId.get(String(data['event_id']));
      assert.ok(step, `unexpected event ${String(data['event_id'])}`);
      const ev = step.env['event'] as { op: string; data: { old: unknown; new: unknown } };
      const table = step.env['table'] as { schema: string; name: string };
      assert.equal(m.id, messageIds[step.index], 'function returned the id Pub/Sub assigned');
      assert.equal(m.orderingKey, step.key);
      assert.deepEqual({ ...m.attributes }, {
        operation: ev.op,
        table: `${table.schema}.${table.name}`,
        field_changes: step.fields,
        event_id: String(step.env['id']),
      });
      assert.equal(data['operation'], ev.op);
      assert.equal(data['table'], `${table.schema}.${table.name}`);
      assert.equal(data['created_at'], '2024-05-01T12:34:56.123456Z');
      const cols = decodeJsonColumns(data);
      assert.deepEqual(cols.old, ev.data.old);
      assert.deepEqual(cols.new, ev.data.new);
      assert.deepEqual(Object.keys(cols.diff).join(','), step.fields);
    }
    assert.equal(new Set(received.map((m) => m.id)).size, script.length, 'no duplicates');

    // Per row (ordering key), messages arrive in the order they were committed.
    for (const key of new Set(script.map((s) => s.key))) {
      const sent = script.filter((s) => s.key === key).map((s) => String(s.env['id']));
      const got = received
        .filter((m) => m.orderingKey === key)
        .map((m) => String((JSON.parse(m.data.toString('utf8')) as Record<string, unknown>)['event_id']));
      assert.deepEqual(got, sent, `order for ${key}`);
    }
  });

  it('a failed publish answers 503, and the same ordering key publishes again afterwards', async (t) => {
    if (!ready(t)) return;
    // Point the function at a topic that does not exist yet: Pub/Sub says NOT_FOUND.
    process.env['EVENTS_TOPIC'] = 'pgbulk-events-late';
    try {
      const row = { id: randomUUID(), name: 'late' };
      const e = envelope('INSERT', null, row);
      const first = await postSigned(server!.url, SECRET, e);
      assert.equal(first.status, 503, first.text);
      assert.deepEqual(first.json(), { error: 'publish failed' });

      const [topic] = await admin!.createTopic('pgbulk-events-late');
      const [subscription] = await topic.createSubscription('pgbulk-events-late-check', { enableMessageOrdering: true });
      // The sender's retry of the same event now goes through: the ordering
      // key was resumed after the failure rather than left paused.
      const retry = await postSigned(server!.url, SECRET, e);
      assert.equal(retry.status, 200, retry.text);
      const [m] = await pull(subscription, 1, 30_000);
      assert.ok(m);
      assert.equal(m.orderingKey, `public.users:${row.id}`);
      assert.equal(m.attributes['event_id'], e['id']);
    } finally {
      process.env['EVENTS_TOPIC'] = TOPIC;
    }
  });

  it('with Pub/Sub unreachable it answers 503 within the publish timeout', async (t) => {
    if (!ready(t)) return;
    await stopEmulator(emu!);
    const started = Date.now();
    const r = await postSigned(server!.url, SECRET, envelope('INSERT', null, { id: randomUUID() }));
    const took = Date.now() - started;
    assert.equal(r.status, 503, r.text);
    assert.ok(took < 10_000, `took ${took} ms`);
  });
});
