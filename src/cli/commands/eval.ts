// `heed eval`: scores a model (and optional adapter) on the built-in mixture's held-out examples and
// held-out families, with optional extras: the mean score a reward model gives its replies, its win
// rate against a baseline model under the verifiable+rules judge (each pair in both orders), and a
// self-contained HTML report.
import type { Command } from 'commander';
import { join } from 'node:path';
import { evalSets, requireChatTemplate } from '../../eval/tasks.js';
import { evaluateStage, winRate } from '../../eval/stages.js';
import { builtinIfevalPrompts, readIfevalPrompts } from '../../eval/ifeval.js';
import { writeReport } from '../../eval/report.js';
import { releaseDataCaches } from '../../data/mixture.js';
import { loadModel } from '../../models/load.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { checkOutDir, guard, int } from '../util.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

interface EvalFlags { ifeval: number; ifevalFile?: string; model: string; adapter?: string; perFamily: number; seed: number; maxNewTokens: number; out?: string; rewardModel?: string; baseline?: string; baselineAdapter?: string; report?: string }

export function register(program: Command): void {
  program
    .command('eval')
    .description('score a model on held-out examples and held-out task families (exact/normalised match, format compliance); optionally its reward-model score, its win rate against a baseline, and an HTML report')
    .requiredOption('--model <dir>', 'model folder')
    .option('--adapter <dir>', 'PEFT adapter folder to apply')
    .option('--per-family <n>', 'examples per family', int('--per-family', 1, 100_000), 10)
    .option('--seed <n>', 'mixture seed (use the one SFT used)', int('--seed'), 0)
    .option('--max-new-tokens <n>', 'token limit per answer', int('--max-new-tokens', 1), 32)
    .option('--ifeval <n>', 'built-in IFEval prompts to answer (verifiable instructions on held-out tasks; 0 = none)', int('--ifeval', 0, 10_000), 100)
    .option('--ifeval-file <file>', 'IFEval prompts in IFEval\'s input_data.jsonl format instead of the built-in ones')
    .option('--reward-model <dir>', 'also report the mean score this reward model gives the replies')
    .option('--baseline <dir>', 'also report the win rate against this model\'s replies (verifiable answers, then the constitution\'s rules; both orders)')
    .option('--baseline-adapter <dir>', 'PEFT adapter for the baseline')
    .option('--report <file>', 'write a self-contained HTML report (table, per-family bars)')
    .option('--out <dir>', 'write eval.json here')
    .addHelpText('after', '\nExamples:\n  heed eval --model runs/base/model --adapter runs/sft-lora/best\n  heed eval --model runs/demo/ppo/final --baseline runs/demo/sft/best --reward-model runs/demo/reward/final --report eval.html')
    .action((o: EvalFlags) => guard(async () => {
      if (o.out) checkOutDir('--out', o.out);
      const sets = evalSets(o.seed, o.perFamily);
      const rm = o.rewardModel ? loadModel(o.rewardModel) : undefined;
      if (rm && rm.model.cfg.head !== 'score') throw new Error(`${o.rewardModel}: not a reward model (config.json architectures is not …ForSequenceClassification)`);
      const m = loadModel(o.model, { adapter: o.adapter });
      requireChatTemplate(m.tok, o.model);
      const ifeval = o.ifevalFile ? readIfevalPrompts(o.ifevalFile) : o.ifeval ? builtinIfevalPrompts({ seed: o.seed, n: o.ifeval }) : [];
      releaseDataCaches(); // the parsed sources would slow every garbage collection during the evaluation
      const s = evaluateStage(m.model, m.tok, sets, { maxNewTokens: o.maxNewTokens, ifeval, ...(rm ? { rm } : {}) });
      if (o.baseline) {
        const b = loadModel(o.baseline, { adapter: o.baselineAdapter });
        requireChatTemplate(b.tok, o.baseline);
        const base = evaluateStage(b.model, b.tok, sets, { maxNewTokens: o.maxNewTokens });
        s.row.win_rate_vs_sft = await winRate(s.heldout, base.heldout, sets);
      }
      const rows = [['held-out examples', s.heldout], ['held-out families', s.zeroShot]] as const;
      for (const [name, r] of rows) console.log(`${name.padEnd(18)} n=${String(r.n).padStart(4)}  accuracy ${pct(r.accuracy).padStart(6)}  exact ${pct(r.exactMatch).padStart(6)}  normalised ${pct(r.normalizedMatch).padStart(6)}  format ${pct(r.formatCompliance).padStart(6)}`);
      if (s.ifeval) console.log(`IFEval (${s.ifeval.prompts} prompts, ${s.ifeval.instructions} instructions)  prompt strict ${pct(s.ifeval.prompt_strict)}  instruction strict ${pct(s.ifeval.instruction_strict)}  prompt loose ${pct(s.ifeval.prompt_loose)}  instruction loose ${pct(s.ifeval.instruction_loose)}`);
      if (s.row.reward_score !== null) console.log(`reward-model score  ${s.row.reward_score.toFixed(3)} (mean over the held-out replies)`);
      if (s.row.win_rate_vs_sft !== undefined) console.log(`win rate vs ${o.baseline}  ${pct(s.row.win_rate_vs_sft)}`);
      const fam = Object.entries({ ...s.heldout.perFamily, ...s.zeroShot.perFamily }).map(([k, v]) => `${k} ${pct(v.accuracy)}`).join(', ');
      console.log(`per family: ${fam}`);
      if (o.out) writeJsonAtomic(join(o.out, 'eval.json'), { row: s.row, heldout: s.heldout, zeroShot: s.zeroShot, ifeval: s.ifeval ?? null });
      if (o.report) {
        writeReport(o.report, { title: `heed eval: ${o.model}${o.adapter ? ` + ${o.adapter}` : ''}`, stages: { [o.adapter ?? o.model]: s.row }, perFamily: { [o.adapter ?? o.model]: Object.fromEntries(Object.entries(s.heldout.perFamily).map(([k, v]) => [k, v.accuracy])) }, runs: [] });
        console.log(`report: ${o.report}`);
      }
    }));
}
