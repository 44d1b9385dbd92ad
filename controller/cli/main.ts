// Entry point of the `l4lb` executable (bin/l4lb imports this module).
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2));
