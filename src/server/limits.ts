/** What one request may ask of the server; each limit fails with a 4xx that says which it was. */
export interface RateLimit {
  /** Tokens refilled per second (sustained requests per second from one address). */
  perSecond: number;
  /** Bucket size: requests one address may send at once. */
  burst: number;
}

export interface ServerLimits {
  /** Largest accepted upload (bytes); larger is a 413. */
  maxUploadBytes: number;
  /** Largest accepted query image (width × height), checked on the header before any decoding; larger is a 413. */
  maxQueryPixels: number;
  /** Largest k a search may ask for. */
  maxK: number;
  /** Per-address token bucket, or null for none (benchmarks). */
  rate: RateLimit | null;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxUploadBytes: 20 * 1024 * 1024,
  // A 50-megapixel query is already far beyond a patch; anything bigger is a mistake or an attack.
  maxQueryPixels: 50_000_000,
  maxK: 100,
  // A page view costs ~25 requests (assets, thumbnails); this allows several at once and bursts of searches.
  rate: { perSecond: 50, burst: 200 },
};
