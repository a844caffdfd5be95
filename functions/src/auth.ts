// Authentication of incoming event deliveries.
//
// Two schemes:
//  1. HMAC signature (what `pgbulk relay` sends), with the current or the previous
//     secret (rotation without downtime):
//       x-pgbulk-timestamp: <unix seconds>
//       x-pgbulk-signature: sha256=<lowercase hex HMAC-SHA256(secret, `${timestamp}.${rawBody}`)>
//     The timestamp is inside the MAC and must be within the skew window, so a
//     captured request cannot be replayed later (replay protection).
//  2. Static header `events-secret: <secret>` (what Hasura event triggers send): off
//     unless HASURA_EVENTS_SECRET is set, and compared with that secret only.
//
// Every comparison involving the secret is constant time. The caller only
// learns "authenticated or not"; the reason is for server logs only.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-pgbulk-timestamp';
export const SIGNATURE_HEADER = 'x-pgbulk-signature';
export const STATIC_SECRET_HEADER = 'events-secret';
export const SIGNATURE_PREFIX = 'sha256=';

// A per-process random key used only to hash both sides of a comparison down to
// equal-length digests, so that timingSafeEqual can run even when the inputs
// differ in length, and the time taken reveals nothing about the secret's length.
const COMPARE_KEY = randomBytes(32);

/** Constant-time equality for strings/buffers of possibly different lengths. */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHmac('sha256', COMPARE_KEY).update(a).digest();
  const db = createHmac('sha256', COMPARE_KEY).update(b).digest();
  return timingSafeEqual(da, db);
}

/** The signature header value for a body: `sha256=<hex>`. Exported for tests and clients. */
export function signBody(secret: string, timestamp: string, rawBody: Buffer | string): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(rawBody);
  return SIGNATURE_PREFIX + mac.digest('hex');
}

export type HeaderValue = string | string[] | undefined;

export interface AuthInput {
  headers: Record<string, HeaderValue>;
  rawBody: Buffer;
  /** HMAC keys, current first. */
  secrets: string[];
  /** Hasura's static header secret; undefined: the static header is not accepted. */
  hasuraSecret?: string | undefined;
  maxSkewSeconds: number;
  nowSeconds: number;
}

export type AuthResult =
  | { ok: true; scheme: 'hmac' | 'hmac-previous' | 'static' }
  | { ok: false; reason: string };

function single(value: HeaderValue): string | undefined {
  // A repeated header is ambiguous; treat it as absent rather than guess which one counts.
  return typeof value === 'string' ? value : undefined;
}

// Unix seconds as plain decimal digits; bounded so Number() stays exact.
const TIMESTAMP_RE = /^[0-9]{1,12}$/;

function checkHmac(input: AuthInput): AuthResult {
  const timestamp = single(input.headers[TIMESTAMP_HEADER]);
  const signature = single(input.headers[SIGNATURE_HEADER]);
  if (timestamp === undefined || signature === undefined) {
    return { ok: false, reason: 'no signature headers' };
  }
  // Verify the MAC against every key before looking at the clock, so every
  // malformed or stale request costs the same work and the decision order leaks
  // nothing useful (which key matched is not learnt from the time taken either).
  let matched = -1;
  input.secrets.forEach((secret, i) => {
    const ok = constantTimeEqual(signature, signBody(secret, timestamp, input.rawBody));
    if (ok && matched < 0) matched = i;
  });
  const macOk = matched >= 0;
  if (!TIMESTAMP_RE.test(timestamp)) {
    return { ok: false, reason: 'malformed timestamp' };
  }
  if (!macOk) {
    return { ok: false, reason: 'bad signature' };
  }
  const skew = Math.abs(input.nowSeconds - Number(timestamp));
  if (skew > input.maxSkewSeconds) {
    return { ok: false, reason: 'timestamp outside window' };
  }
  return { ok: true, scheme: matched === 0 ? 'hmac' : 'hmac-previous' };
}

function checkStatic(input: AuthInput): AuthResult {
  if (input.hasuraSecret === undefined || input.hasuraSecret.length === 0) {
    return { ok: false, reason: 'static secret header not enabled' };
  }
  const provided = single(input.headers[STATIC_SECRET_HEADER]);
  if (provided === undefined) {
    return { ok: false, reason: 'no static secret header' };
  }
  return constantTimeEqual(provided, input.hasuraSecret)
    ? { ok: true, scheme: 'static' }
    : { ok: false, reason: 'bad static secret' };
}

/**
 * Authenticate a request. Either scheme suffices. An empty secret never
 * authenticates anything (callers must refuse to run without one anyway).
 */
export function authenticate(input: AuthInput): AuthResult {
  if (input.secrets.length === 0 || input.secrets.some((s) => s.length === 0)) {
    return { ok: false, reason: 'no secret configured' };
  }
  const hmac = checkHmac(input);
  if (hmac.ok) return hmac;
  const stat = checkStatic(input);
  if (stat.ok) return stat;
  return { ok: false, reason: `${hmac.reason}; ${stat.reason}` };
}
