#!/usr/bin/env node
// `heed <command>`: the command-line entry point. Each command lives in ./commands/NAME.ts and
// exports `register(program)`; this file only wires them together.
import { Command } from 'commander';
import '../kernels/native.js';
import * as init from './commands/init.js';
import * as generate from './commands/generate.js';
import * as tokenize from './commands/tokenize.js';
import * as tokenizer from './commands/tokenizer.js';
import * as data from './commands/data.js';
import * as train from './commands/train.js';
import * as evalCmd from './commands/eval.js';
import * as demo from './commands/demo.js';
import * as exportCmd from './commands/export.js';
import * as feedback from './commands/feedback.js';
import * as serve from './commands/serve.js';
import * as align from './commands/align.js';
import * as synth from './commands/synth.js';
import { guard } from './util.js';

const program = new Command();
program
  .name('heed')
  .description('Turn a raw language model into an instruction-following assistant, on your own CPU.')
  .version('0.1.0')
  .showHelpAfterError()
  // a command's options stay with it, so a subcommand may reuse a name (`heed reward score --model`)
  .enablePositionalOptions();

for (const c of [demo, init, data, train, align, synth, evalCmd, generate, tokenize, tokenizer, feedback, exportCmd, serve]) c.register(program);

// A reader that stops early (`heed tokenize … | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
// The net under every command: whatever escapes one is a message, never a stack trace.
await guard(() => program.parseAsync(process.argv));
