#!/usr/bin/env node
// The `baton` command of a checkout (`npm start`, `npm run baton -- ...`): compiles src/ when it changed since the
// last build (scripts/build.mjs, a few ms when nothing did), then runs the compiled CLI; no TypeScript loader at run
// time. Installed from npm, `baton` is the bin of the baton-tts package.
import { buildIfStale } from '../scripts/build.mjs';

if (!buildIfStale()) process.exit(1);
await import('../build/cli/bin.js');
