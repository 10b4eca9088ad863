#!/usr/bin/env node
import { run } from './program.js';

// process.exitCode rather than process.exit(): pending writes to a pipe are flushed first.
process.exitCode = await run(process.argv.slice(2));
