/**
 * Rate limiting by @fastify/rate-limit, per client address (an IPv6 client by its /64), checked before
 * access control: a token cannot key the count, since anyone can send a fresh made-up one with each
 * request. A refusal is a 429 in the server's error shape, with Retry-After, answered before any
 * work is done, so a flood from one address costs almost nothing and other clients are served as usual.
 *
 * The count is ours: the plugin's own store counts in fixed windows, so a client that spent its
 * burst would wait out the whole window (seconds) and could send two bursts across a window's
 * edge. A token bucket lets it back in at the sustained rate, a few milliseconds per request.
 */
import fastifyRateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';
import type { RateLimit } from './limits.js';

interface Bucket {
  tokens: number;
  /** When `tokens` was counted (ms, monotonic). */
  at: number;
}

/** Buckets kept before full (idle) ones are dropped: bounds memory under a spray of addresses. */
const MAX_BUCKETS = 10_000;

/**
 * The plugin's store interface over token buckets: each key's bucket holds `max` tokens and refills
 * from empty in `timeWindow` ms. The plugin refuses a request when `current > max` and sends
 * `ttl` (ms, rounded up to seconds) as Retry-After, so `current` is the tokens spent, past `max`
 * when none is left, and `ttl` the wait for the next token (for a served request: until full).
 */
class TokenBucketStore implements FastifyRateLimitStore {
  private readonly buckets = new Map<string, Bucket>();

  incr(
    key: string,
    callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
    timeWindow: number,
    max: number,
  ): void {
    const perMs = max / timeWindow;
    const now = performance.now();
    const bucket = this.buckets.get(key) ?? { tokens: max, at: now };
    bucket.tokens = Math.min(max, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropFull(now, timeWindow);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      callback(null, { current: max - Math.floor(bucket.tokens), ttl: (max - bucket.tokens) / perMs });
    } else callback(null, { current: max + 1, ttl: (1 - bucket.tokens) / perMs });
  }

  /** Route-specific limits would get buckets of their own; the server has one limit for all. */
  child(): FastifyRateLimitStore {
    return new TokenBucketStore();
  }

  /** Drops buckets that have refilled: they are the same as no bucket. */
  private dropFull(now: number, timeWindow: number): void {
    for (const [key, b] of this.buckets) if (now - b.at >= timeWindow) this.buckets.delete(key);
  }
}

export async function installRateLimit(app: FastifyInstance, limit: RateLimit): Promise<void> {
  await app.register(fastifyRateLimit, {
    // Not per route: one app-wide hook (below), so unknown paths count too, and the order of hooks
    // holds (CORS preflights, then the limit, then access control).
    global: false,
    max: limit.burst,
    timeWindow: (limit.burst / limit.perSecond) * 1000,
    store: TokenBucketStore,
    errorResponseBuilder: (request, context) =>
      new HttpError(
        429,
        `too many requests from ${request.ip}: the limit is ${limit.perSecond} per second (bursts of ${limit.burst}); retry in ${(context.ttl / 1000).toFixed(1)} s`,
      ),
  });
  app.addHook('onRequest', app.rateLimit());
}
