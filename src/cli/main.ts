// `heed <command>`: the command-line entry point. Each command lives in ./commands/NAME.ts and
// exports `register(program)`; this file only wires them together.
import { Command } from 'commander';

const program = new Command();
program
  .name('heed')
  .description('Turn a raw language model into an instruction-following assistant, on your own CPU.')
  .version('0.1.0')
  .showHelpAfterError();

const commands: Array<{ register(p: Command): void }> = [];
for (const c of commands) c.register(program);

await program.parseAsync(process.argv);
