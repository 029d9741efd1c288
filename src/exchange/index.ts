export * from './errors.js';
export * from './request.js';
export * from './scope.js';
export * from './service.js';
export { exchange, refused } from './exchange.js';
export { revoke } from './revoke.js';
export { authenticateClient, hashSecret, prepareWorkload, type Workload } from './client-auth.js';
export type { Subject } from './subject.js';
