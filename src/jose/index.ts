export * from './keys.js';
export * from './key-source.js';
export * from './profiles.js';
export * from './json-bounds.js';
