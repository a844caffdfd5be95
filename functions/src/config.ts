// Configuration from the environment. Read per request (it is cheap) so a
// missing secret is reported on every request rather than once at start-up,
// and so tests can change it without reloading the module.

export interface EventsConfig {
  /** Shared secret (EVENTS_SECRET, filled from Secret Manager in deployment). */
  secret: string;
  /** Pub/Sub topic, short name or projects/<p>/topics/<t> (EVENTS_TOPIC). Never taken from the request. */
  topic: string;
  /** Accepted clock difference for signed requests, seconds (EVENTS_MAX_SKEW_SECONDS, default 300). */
  maxSkewSeconds: number;
  /** Bound on one publish including client retries, ms (EVENTS_PUBLISH_TIMEOUT_MS, default 20000). */
  publishTimeoutMs: number;
}

export type ConfigResult = { ok: true; config: EventsConfig } | { ok: false; reason: string };

export const DEFAULT_MAX_SKEW_SECONDS = 300;
export const DEFAULT_PUBLISH_TIMEOUT_MS = 20_000;

function parseNonNegativeInt(value: string | undefined, fallback: number): number | null {
  if (value === undefined || value === '') return fallback;
  if (!/^[0-9]{1,9}$/.test(value)) return null;
  return Number(value);
}

/** Validate the environment; any problem means "refuse every request" (fail closed). */
export function readConfig(env: Record<string, string | undefined>): ConfigResult {
  const secret = env['EVENTS_SECRET'];
  if (secret === undefined || secret.length === 0) {
    return { ok: false, reason: 'EVENTS_SECRET is not set' };
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
  return { ok: true, config: { secret, topic: topic.trim(), maxSkewSeconds, publishTimeoutMs } };
}
