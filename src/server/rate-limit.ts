/**
 * A token bucket per client address: each request takes a token, tokens refill at `perSecond` up to
 * `burst`. An empty bucket is a 429 with Retry-After, answered before any work is done, so a flood
 * from one address costs almost nothing and other clients are served as usual.
 */
import type { FastifyInstance } from 'fastify';
import type { RateLimit } from './limits.js';

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full (idle) ones are dropped: bounds memory under a spray of addresses. */
const MAX_BUCKETS = 10_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {}

  /** Takes a token for `key`; returns 0 if it had one, else the seconds until it will. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + (now - bucket.at) * this.limit.perSecond);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropIdle(now);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.limit.perSecond;
  }

  private dropIdle(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(key);
    }
  }
}

export function installRateLimit(app: FastifyInstance, limit: RateLimit): void {
  const buckets = new TokenBuckets(limit);
  app.addHook('onRequest', async (request, reply) => {
    const wait = buckets.take(request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait)));
      return reply.code(429).send({
        error: `too many requests from ${request.ip}: the limit is ${limit.perSecond} per second (bursts of ${limit.burst}); retry in ${wait.toFixed(1)} s`,
      });
    }
  });
}
