// `heed demo`: the whole journey on the built-in defaults, from a base model to RLHF (the library's
// runDemo in src/pipeline/demo.ts does the work; this only reads the flags).
import type { Command } from 'commander';
import { runDemo } from '../../pipeline/demo.js';
import { guard, int } from '../util.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('pretrain → data → SFT → sample → judge → reward model → PPO, DPO, GRPO → eval; prints the table across stages and writes summary.json and report.html')
    .option('--out <dir>', 'output folder', 'runs/demo')
    .option('--quick', 'a small, fast run (a few minutes) for smoke tests')
    .option('--overwrite', 'replace an earlier demo in the output folder')
    .option('--budget <minutes>', 'time for the whole run: pretraining, SFT, DPO, PPO and GRPO get shares of it and are shortened where their steps would not fit this machine (they say so); 0 = every stage runs its recipe as written', int('--budget', 0, 10000), 30)
    .addHelpText('after', '\nExamples:\n  heed demo\n  heed demo --quick --out /tmp/demo\n  heed demo --budget 0 --out runs/demo-full    # every recipe as written, however long it takes')
    .action((o: { out: string; quick?: boolean; overwrite?: boolean; budget: number }) => guard(async () => { await runDemo({ out: o.out, quick: o.quick ?? false, overwrite: o.overwrite ?? false, budgetMin: o.budget }); }));
}
