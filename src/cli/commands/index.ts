// Which module registers which top-level commands, in the order `heed --help` lists them. The
// entry point imports only the module of the command it is asked to run (importing all thirteen
// and what they use costs ~0.2 s of every start); a test checks that each module registers exactly
// the names written here.
import type { Command } from 'commander';

export interface CommandModule { register(program: Command): void }

export const COMMAND_MODULES: ReadonlyArray<{ names: readonly string[]; load: () => Promise<CommandModule> }> = [
  { names: ['demo'], load: () => import('./demo.js') },
  { names: ['init'], load: () => import('./init.js') },
  { names: ['data'], load: () => import('./data.js') },
  { names: ['pretrain', 'sft', 'merge'], load: () => import('./train.js') },
  { names: ['sample', 'judge', 'reward', 'dpo', 'ppo', 'grpo'], load: () => import('./align.js') },
  { names: ['self-instruct', 'cai'], load: () => import('./synth.js') },
  { names: ['eval'], load: () => import('./eval.js') },
  { names: ['generate', 'chat', 'logprobs'], load: () => import('./generate.js') },
  { names: ['tokenize'], load: () => import('./tokenize.js') },
  { names: ['tokenizer'], load: () => import('./tokenizer.js') },
  { names: ['feedback'], load: () => import('./feedback.js') },
  { names: ['export'], load: () => import('./export.js') },
  { names: ['serve'], load: () => import('./serve.js') },
];

/** The modules to load for these arguments: the named command's alone, or every one (help, version, an unknown name). */
export function modulesFor(argv: readonly string[]): typeof COMMAND_MODULES {
  const first = argv[0];
  const one = COMMAND_MODULES.find((m) => first !== undefined && m.names.includes(first));
  return one ? [one] : COMMAND_MODULES;
}
