#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError, EXIT } from './ops/exit.js';
import { buildProgram } from './program.js';

const program = buildProgram();
// Usage errors (unknown option, missing argument) exit 64, never a code that reads as a verdict.
program.exitOverride();
for (const c of program.commands) {
  c.exitOverride();
  for (const sub of c.commands) sub.exitOverride();
}
program.parseAsync(process.argv).catch((err) => {
  if (err instanceof CommanderError) {
    // help and --version are not errors; everything else commander refuses is a usage error.
    const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
    process.exit(ok ? 0 : EXIT.usage);
  }
  process.stderr.write(`liveprobe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof CliError ? err.code : 1);
});
