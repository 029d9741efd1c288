export type { RateLimitResult, RevocationListener, Store, StoreHealth } from './types.js';
export { StoreUnavailableError } from './types.js';
export { MemoryStore } from './memory.js';
