// Entry point: registers the HTTP function `events` with the Functions
// Framework, wired to the real Pub/Sub client. Everything testable lives in
// the modules re-exported below.
import * as functions from '@google-cloud/functions-framework';
import { readConfig } from './config';
import { installGuard } from './guard';
import { createEventsHandler } from './handler';
import { PubSubPublisher } from './publisher';

// Every start path loads this module before the framework builds its server:
// production mode there, so an error never sends a stack trace or message to a
// client (the framework and Express check NODE_ENV), and the pre-parse guard.
process.env['NODE_ENV'] = 'production';
installGuard();

let publisher: PubSubPublisher | undefined;

// Created on first publish, not at load time: loading the module must not
// need credentials or a reachable Pub/Sub (and a misconfigured instance must
// still answer 500 rather than crash).
function getPublisher(publishTimeoutMs: number): PubSubPublisher {
  publisher ??= new PubSubPublisher({ publishTimeoutMs });
  return publisher;
}

export const events = createEventsHandler({
  getConfig: () => readConfig(process.env),
  getPublisher,
});

functions.http('events', events);

/** Close the Pub/Sub client (used by the local server on shutdown and by tests). */
export async function shutdown(): Promise<void> {
  const p = publisher;
  publisher = undefined;
  if (p !== undefined) await p.close();
}

export { createEventsHandler } from './handler';
export type { HandlerDeps, LogEntry } from './handler';
export { readConfig } from './config';
export type { EventsConfig } from './config';
export { authenticate, constantTimeEqual, signBody } from './auth';
export { parseBody, parseEnvelope, validateEnvelope, normaliseTimestamp } from './validate';
export { guard, installGuard, preParseRefusal } from './guard';
export { buildMessage, computeDiff, changedColumns, orderingKey } from './message';
export { PubSubPublisher } from './publisher';
export type { EventPublisher } from './publisher';
