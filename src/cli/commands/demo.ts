// `heed demo`: the whole journey on the built-in defaults, from a base model to RLHF (the library's
// runDemo in src/pipeline/demo.ts does the work; this only reads the flags).
import type { Command } from 'commander';
import { runDemo } from '../../pipeline/demo.js';
import { guard } from '../util.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('pretrain → data → SFT → sample → judge → reward model → PPO, DPO, GRPO → eval; prints the table across stages and writes summary.json and report.html')
    .option('--out <dir>', 'output folder', 'runs/demo')
    .option('--quick', 'a small, fast run (a few minutes) for smoke tests')
    .option('--overwrite', 'replace an earlier demo in the output folder')
    .addHelpText('after', '\nExamples:\n  heed demo\n  heed demo --quick --out /tmp/demo')
    .action((o: { out: string; quick?: boolean; overwrite?: boolean }) => guard(async () => { await runDemo({ out: o.out, quick: o.quick ?? false, overwrite: o.overwrite ?? false }); }));
}
