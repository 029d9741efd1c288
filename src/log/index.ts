/**
 * The decision log: one structured JSON line per decision, from every hop (TTS, MCP server, downstream services).
 * Lines of one transaction join on `txn`. A raw token never reaches a sink (V-11): members that hold credentials are
 * dropped and any string shaped like a JWT is redacted; every string is bounded and every line is one line (no raw
 * U+2028/U+2029/U+0085 or other line-breaking or control characters). The TTS, `baton/verify` and the MCP helper run
 * their entries through the same `scrub` before any sink sees them.
 * Runs on Node and Workers (the default sink is `console.log`, i.e. stdout on Node).
 */
// Layout: record.ts (the one record type), scrub.ts (scrubber and renderer), emit.ts (the one guarded emitter every hop
// writes through), sink.ts (line sinks: the non-blocking stdout sink, memory, tee), logger.ts (createDecisionLogger).
export * from './record.js';
// scrub.ts's helpers of the renderers (renderMembers, oneLine) stay inside the package
export { MAX_LOG_MEMBERS, MAX_LOG_STRING, renderDecisionLine, scrub, toJsonLine } from './scrub.js';
export * from './sink.js';
export * from './emit.js';
export * from './logger.js';
