#!/usr/bin/env node
// `heed <command>`: the command-line entry point. Each command lives in ./commands/NAME.ts and
// exports `register(program)`; this file only wires them together, loading only the module of the
// command being run (commands/index.ts).
import { Command } from 'commander';
import '../kernels/native.js';
import { modulesFor } from './commands/index.js';
import { guard } from './util.js';

const program = new Command();
program
  .name('heed')
  .description('Turn a raw language model into an instruction-following assistant, on your own CPU.')
  .version('0.1.0')
  .showHelpAfterError()
  // a command's options stay with it, so a subcommand may reuse a name (`heed reward score --model`)
  .enablePositionalOptions();

for (const m of modulesFor(process.argv.slice(2))) (await m.load()).register(program);

// A reader that stops early (`heed tokenize … | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
// The net under every command: whatever escapes one is a message, never a stack trace.
await guard(() => program.parseAsync(process.argv));
