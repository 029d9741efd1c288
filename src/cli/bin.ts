#!/usr/bin/env node
// The `baton` command: `bin` of the baton-tts package; in a checkout, bin/baton.mjs builds src/ and runs this file.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
