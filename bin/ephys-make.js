#!/usr/bin/env node
// One bundled file (and chunks loaded on demand) starts faster than hundreds of modules.
import { main } from '../dist/bundle/cli.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
