export type { RateLimitCheck, RateLimitResult, RevocationListener, Store, StoreHealth } from './types.js';
export { StoreUnavailableError, rateLimitAll } from './types.js';
export { MemoryStore } from './memory.js';
export { RevocationCache } from './revocation-cache.js';
export type { RevocationCacheOptions } from './revocation-cache.js';
