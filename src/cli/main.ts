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

const program = new Command();
program
  .name('heed')
  .description('Turn a raw language model into an instruction-following assistant, on your own CPU.')
  .version('0.1.0')
  .showHelpAfterError();

for (const c of [demo, init, data, train, evalCmd, generate, tokenize, tokenizer, feedback, exportCmd, serve]) c.register(program);

await program.parseAsync(process.argv);
