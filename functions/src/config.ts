// Configuration from the environment. Read per request (it is cheap) so a
// missing secret is reported on every request rather than once at start-up,
// and so tests can change it without reloading the module.

export interface EventsConfig {
  /**
   * HMAC keys accepted, current first: EVENTS_SECRET, then EVENTS_SECRET_PREVIOUS when
   * set (both filled from Secret Manager versions), so a secret can be rotated
   * without a moment in which the relay's requests are refused.
   */
  secrets: string[];
  /**
   * Hasura's static `events-secret` header: accepted only when HASURA_EVENTS_SECRET is
   * set, and compared with that secret, never with the HMAC keys (a static header
   * travels with every request; the HMAC key never does).
   */
  hasuraSecret: string | undefined;
  /** Pub/Sub topic, short name or projects/<p>/topics/<t> (EVENTS_TOPIC). Never taken from the request. */
  topic: string;
  /** Accepted clock difference for signed requests, seconds (EVENTS_MAX_SKEW_SECONDS, default 300). */
  maxSkewSeconds: number;
  /** Bound on one publish including client retries, ms (EVENTS_PUBLISH_TIMEOUT_MS, default 20000). */
  publishTimeoutMs: number;
  /** Events accepted in one request (EVENTS_MAX_BATCH, default 1000). */
  maxBatch: number;
}

export type ConfigResult = { ok: true; config: EventsConfig } | { ok: false; reason: string };

export const DEFAULT_MAX_SKEW_SECONDS = 300;
export const DEFAULT_PUBLISH_TIMEOUT_MS = 20_000;
export const DEFAULT_MAX_BATCH = 1000;
/** Largest request body accepted, bytes (EVENTS_MAX_BODY_BYTES): checked before any parsing. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

function parseNonNegativeInt(value: string | undefined, fallback: number): number | null {
  if (value === undefined || value === '') return fallback;
  if (!/^[0-9]{1,9}$/.test(value)) return null;
  return Number(value);
}

/** The body limit; an invalid setting falls back to the default (the guard must never be off). */
export function maxBodyBytes(env: Record<string, string | undefined>): number {
  const n = parseNonNegativeInt(env['EVENTS_MAX_BODY_BYTES'], DEFAULT_MAX_BODY_BYTES);
  return n === null || n === 0 ? DEFAULT_MAX_BODY_BYTES : n;
}

/** Validate the environment; any problem means "refuse every request" (fail closed). */
export function readConfig(env: Record<string, string | undefined>): ConfigResult {
  const secret = env['EVENTS_SECRET'];
  if (secret === undefined || secret.length === 0) {
    return { ok: false, reason: 'EVENTS_SECRET is not set' };
  }
  const previous = env['EVENTS_SECRET_PREVIOUS'];
  const secrets = previous !== undefined && previous.length > 0 && previous !== secret ? [secret, previous] : [secret];
  const hasura = env['HASURA_EVENTS_SECRET'];
  const hasuraSecret = hasura !== undefined && hasura.length > 0 ? hasura : undefined;
  if (hasuraSecret !== undefined && secrets.includes(hasuraSecret)) {
    return { ok: false, reason: 'HASURA_EVENTS_SECRET must differ from the HMAC secrets' };
  }
  const topic = env['EVENTS_TOPIC'];
  if (topic === undefined || topic.trim().length === 0) {
    return { ok: false, reason: 'EVENTS_TOPIC is not set' };
  }
  const maxSkewSeconds = parseNonNegativeInt(env['EVENTS_MAX_SKEW_SECONDS'], DEFAULT_MAX_SKEW_SECONDS);
  if (maxSkewSeconds === null) {
    return { ok: false, reason: 'EVENTS_MAX_SKEW_SECONDS must be a non-negative integer' };
  }
  const publishTimeoutMs = parseNonNegativeInt(env['EVENTS_PUBLISH_TIMEOUT_MS'], DEFAULT_PUBLISH_TIMEOUT_MS);
  if (publishTimeoutMs === null || publishTimeoutMs === 0) {
    return { ok: false, reason: 'EVENTS_PUBLISH_TIMEOUT_MS must be a positive integer' };
  }
  const maxBatch = parseNonNegativeInt(env['EVENTS_MAX_BATCH'], DEFAULT_MAX_BATCH);
  if (maxBatch === null || maxBatch === 0) {
    return { ok: false, reason: 'EVENTS_MAX_BATCH must be a positive integer' };
  }
  return {
    ok: true,
    config: { secrets, hasuraSecret, topic: topic.trim(), maxSkewSeconds, publishTimeoutMs, maxBatch },
  };
}
