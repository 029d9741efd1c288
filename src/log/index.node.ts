// `baton-tts-log` on Node: the same API, with standard output written by the batched asynchronous writer
// (`sink.node.ts`) instead of one `console.log` per line. Selected by the "node" export condition.
import { installNodeLineWriter } from './sink.node.js';

installNodeLineWriter();

export * from './index.js';
export { createAsyncLineWriter, installNodeLineWriter, DEFAULT_MAX_BUFFERED_BYTES, type AsyncLineWriter, type AsyncLineWriterOptions, type LineWriterStats } from './sink.node.js';
