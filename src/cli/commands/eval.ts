// `heed eval`: scores a model (and optional adapter) on the built-in mixture's held-out examples
// and held-out families.
import type { Command } from 'commander';
import { join } from 'node:path';
import { evalSets, scoreModel } from '../../eval/tasks.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { checkOutDir, guard, int } from '../util.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function register(program: Command): void {
  program
    .command('eval')
    .description('score a model on held-out examples and held-out task families (exact/normalised match, format compliance)')
    .requiredOption('--model <dir>', 'model folder')
    .option('--adapter <dir>', 'PEFT adapter folder to apply')
    .option('--per-family <n>', 'examples per family', int('--per-family', 1, 100_000), 10)
    .option('--seed <n>', 'mixture seed (use the one SFT used)', int('--seed'), 0)
    .option('--max-new-tokens <n>', 'token limit per answer', int('--max-new-tokens', 1), 32)
    .option('--out <dir>', 'write eval.json here')
    .addHelpText('after', '\nExample:\n  heed eval --model runs/base/model --adapter runs/sft-lora/best')
    .action((o: { model: string; adapter?: string; perFamily: number; seed: number; maxNewTokens: number; out?: string }) => guard(() => {
      if (o.out) checkOutDir('--out', o.out);
      const s = scoreModel(o.model, o.adapter, evalSets(o.seed, o.perFamily), o.maxNewTokens);
      const rows = [['held-out examples', s.heldout], ['held-out families', s.zeroShot]] as const;
      for (const [name, r] of rows) console.log(`${name.padEnd(18)} n=${String(r.n).padStart(4)}  accuracy ${pct(r.accuracy).padStart(6)}  exact ${pct(r.exactMatch).padStart(6)}  normalised ${pct(r.normalizedMatch).padStart(6)}  format ${pct(r.formatCompliance).padStart(6)}`);
      const fam = Object.entries({ ...s.heldout.perFamily, ...s.zeroShot.perFamily }).map(([k, v]) => `${k} ${pct(v.accuracy)}`).join(', ');
      console.log(`per family: ${fam}`);
      if (o.out) writeJsonAtomic(join(o.out, 'eval.json'), s);
    }));
}
