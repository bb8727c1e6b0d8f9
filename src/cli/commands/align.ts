// `heed sample`, `heed judge` and `heed reward`: K responses per prompt into the feedback store (or
// JSONL), rankings by judges under a constitution, and the reward model trained on rankings.
import type { Command } from 'commander';
import { loadModel } from '../../models/load.js';
import { checkSampling } from '../../models/sampling.js';
import { rollouts, type TaskPrompt } from '../../align/rollout.js';
import { builtinPrompts, readTaskPrompts } from '../../align/prompts.js';
import { judgeByName, loadConstitution, PrincipleDraw, DEFAULT_CONSTITUTION } from '../../align/judges.js';
import { trainRewardModel } from '../../align/reward-train.js';
import { encodeRanking, scoreBatch, scores } from '../../align/reward.js';
import { FeedbackStore } from '../../feedback/store.js';
import { judgeStore, metaOf, readRankings, storeRollouts } from '../../feedback/align.js';
import { readConversations } from '../../data/formats.js';
import { releaseDataCaches } from '../../data/mixture.js';
import { DpoSchema, GrpoSchema, loadRecipe, PpoSchema, RewardSchema } from '../../train/recipes.js';
import { trainRl } from '../../align/rl.js';
import { OpenAIClient } from '../../synth/client.js';
import { modelJudge } from '../../synth/judge.js';
import { trainDpo } from '../../align/dpo.js';
import { noGrad } from '../../core/autograd.js';
import { toJsonl } from '../../data/formats.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { addRecipeFlags, recipeOverrides } from '../recipe-flags.js';
import { runFlags, runOptions } from './train.js';
import { float, guard, int } from '../util.js';

interface SampleFlags {
  model: string; adapter?: string; prompts?: string; builtin?: number; k: number; db?: string; out?: string;
  temperature: number; topP: number; topK: number; maxNewTokens: number; seed: number; batch: number;
}

function promptsOf(o: { prompts?: string; builtin?: number; seed: number }): TaskPrompt[] {
  if (o.prompts && o.builtin !== undefined) throw new Error('give --prompts FILE or --builtin N, not both');
  if (o.prompts) return readTaskPrompts(o.prompts);
  if (o.builtin !== undefined) {
    if (!(o.builtin >= 1)) throw new Error(`--builtin: prompts per family must be at least 1, got ${o.builtin}`);
    const prompts = builtinPrompts({ seed: o.seed, perFamily: o.builtin, split: 'train' });
    releaseDataCaches(); // the parsed sources would slow every garbage collection during generation
    return prompts;
  }
  throw new Error('give the prompts: --prompts FILE (JSONL of messages) or --builtin N (N per trained family of the built-in mixture)');
}

export function register(program: Command): void {
  program
    .command('sample')
    .description('K sampled responses per prompt (each with its own seed) into the feedback store and/or JSONL, ready to rank')
    .requiredOption('--model <dir>', 'model folder')
    .option('--adapter <dir>', 'PEFT adapter folder to apply')
    .option('--prompts <file>', 'JSONL of {messages, answer?, accept?, family?, metric?} (a trailing assistant turn is taken as the answer)')
    .option('--builtin <n>', 'instead of --prompts: n prompts per trained family of the built-in mixture (training items, answers known)', int('--builtin'))
    .option('-k, --k <k>', 'responses per prompt (2–9)', int('-k'), 4)
    .option('--db <file>', 'feedback store to write prompts and responses into')
    .option('--out <file>', 'ranking JSONL to write (prompts with their responses, not yet ranked)')
    .option('--temperature <t>', 'sampling temperature', float('--temperature'), 1)
    .option('--top-p <p>', 'nucleus sampling threshold (1 = off)', float('--top-p'), 1)
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', int('--top-k'), 0)
    .option('--max-new-tokens <n>', 'most tokens per response', int('--max-new-tokens'), 48)
    .option('--seed <n>', 'response j of prompt i uses seed + i·k + j', int('--seed'), 0)
    .option('--batch <n>', 'sequences decoded at once', int('--batch'), 16)
    .addHelpText('after', '\nExamples:\n  heed sample --model runs/demo/sft/best --builtin 4 -k 4 --db runs/prefs.db\n  heed sample --model my-model --prompts prompts.jsonl -k 6 --out samples.jsonl')
    .action((o: SampleFlags) => guard(() => {
      if (!(o.k >= 2 && o.k <= 9)) throw new Error(`-k: responses per prompt must be between 2 and 9, got ${o.k}`);
      if (!o.db && !o.out) throw new Error('give --db FILE (a feedback store) and/or --out FILE (JSONL) for the samples');
      if (!(o.batch >= 1)) throw new Error(`--batch must be at least 1, got ${o.batch}`);
      const sampling = checkSampling({ temperature: o.temperature, topP: o.topP, topK: o.topK, maxNewTokens: o.maxNewTokens, seed: o.seed },
        { temperature: '--temperature', topP: '--top-p', topK: '--top-k', maxNewTokens: '--max-new-tokens', seed: '--seed' });
      const prompts = promptsOf(o);
      const m = loadModel(o.model, { adapter: o.adapter });
      const t0 = Date.now();
      const rolls = rollouts(m.model, m.tok, prompts, {
        k: o.k, sampling, seed: o.seed, batch: o.batch,
        onProgress: (d, n) => { if (d === n || d % 50 === 0) process.stderr.write(`sample: ${d}/${n} responses\n`); },
      });
      const settings = { temperature: o.temperature, top_p: o.topP, top_k: o.topK, max_tokens: o.maxNewTokens };
      if (o.db) {
        const store = FeedbackStore.open(o.db);
        try { storeRollouts(store, prompts, rolls, { model: o.model, ...(o.adapter ? { adapter: o.adapter } : {}), settings }); } finally { store.close(); }
      }
      if (o.out) {
        writeFileAtomic(o.out, toJsonl(prompts.map((p, i) => ({
          prompt: p.messages, meta: metaOf(p), source: 'heed sample',
          responses: rolls[i]!.map((r, j) => ({ id: j, text: r.text, model: o.model, ...(o.adapter ? { adapter: o.adapter } : {}), settings, seed: r.seed, finish: r.finish })),
        }))));
      }
      const n = rolls.flat(), tokens = n.reduce((s, r) => s + r.response.length, 0), secs = (Date.now() - t0) / 1000;
      console.log(`sampled ${n.length} responses to ${prompts.length} prompts (${n.filter((r) => r.finish === 'stop').length} ended their turn) in ${secs.toFixed(1)}s, ${Math.round(tokens / secs)} tok/s${o.db ? `; store ${o.db}` : ''}${o.out ? `; ${o.out}` : ''}`);
    }));

  program
    .command('judge')
    .description('rank each prompt\'s responses in the feedback store by pairwise verdicts of a judge under a constitution')
    .requiredOption('--db <file>', 'feedback store (prompts with 2 or more responses)')
    .option('--judge <name>', 'verifiable (known answers), rules (checkable principles), a chain such as verifiable+rules, or model (an endpoint)', 'verifiable+rules')
    .option('--constitution <file>', 'principles to draw from (JSON: {name, principles: [{id, text, rule?}]})', DEFAULT_CONSTITUTION)
    .option('--seed <n>', 'seed of the principle drawn for each comparison', int('--seed'), 0)
    .option('--endpoint <url>', 'with --judge model: an OpenAI-compatible base URL (repeat to spread the work)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--judge-model <name>', 'with --judge model: the model name the endpoint serves')
    .option('--api-key <key>', 'with --judge model: the endpoint\'s key (or OPENAI_API_KEY)')
    .option('--cache <dir>', 'with --judge model: cache answers here, so a rerun costs nothing')
    .addHelpText('after', '\nExamples:\n  heed judge --db runs/prefs.db --judge verifiable+rules\n  heed judge --db runs/prefs.db --judge model --endpoint http://127.0.0.1:8080/v1 --judge-model best')
    .action((o: { db: string; judge: string; constitution: string; seed: number; endpoint: string[]; judgeModel?: string; apiKey?: string; cache?: string }) => guard(async () => {
      const c = loadConstitution(o.constitution);
      let judge, bothOrders = false;
      if (o.judge === 'model') {
        if (!o.endpoint.length || !o.judgeModel) throw new Error('--judge model needs --endpoint URL and --judge-model NAME');
        const apiKey = o.apiKey ?? process.env.OPENAI_API_KEY;
        judge = modelJudge(new OpenAIClient({ endpoints: o.endpoint, ...(apiKey ? { apiKey } : {}), ...(o.cache ? { cacheDir: o.cache } : {}) }), o.judgeModel);
        bothOrders = true;
      } else judge = judgeByName(o.judge, c);
      const store = FeedbackStore.open(o.db, { create: false });
      try {
        const r = await judgeStore(store, judge, new PrincipleDraw(judge.principles(c), o.seed), { bothOrders });
        const pct = (a: { agree: number; n: number } | null) => (a && a.n ? `${(100 * a.agree / a.n).toFixed(1)}% of ${a.n}` : 'n/a');
        console.log(`${r.rater}: ranked ${r.rankings} of ${r.prompts} prompts (${r.judgments} comparisons, ${r.ties} ties); agreement with the verifiable judge ${pct(r.verifiableAgreement)}; both orders agree ${pct(r.orderAgreement)}`);
      } finally { store.close(); }
    }));

  const rw = runFlags(program.command('reward'), 'runs/reward')
    .description('train a reward model on rankings (InstructGPT: all C(K,2) pairs of a ranking in one batch element)')
    // not a commander requiredOption: `heed reward score --model …` would then ask the parent for it
    .option('--model <dir>', 'the SFT model folder the reward model starts from (required)')
    .option('--recipe <name|file>', 'recipe in recipes/ (reward) or a JSON file', 'reward');
  addRecipeFlags(rw, RewardSchema)
    .addHelpText('after', '\nExamples:\n  heed reward --model runs/demo/sft/best --data runs/prefs.db --out runs/rm\n  heed reward --model runs/demo/sft/best --data rankings.jsonl --mode pairs --out runs/rm-pairs\n  heed reward score --model runs/rm/final --data chats.jsonl')
    .action((o: Record<string, unknown> & { out: string; recipe: string; model?: string }) => guard(() => {
      if (!o.model) throw new Error("required option '--model <dir>' not specified (the SFT model folder the reward model starts from)");
      const r = loadRecipe(RewardSchema, o.recipe, recipeOverrides(o, RewardSchema));
      trainRewardModel(r, o.model, readRankings(r.data, r.rater), runOptions(o));
    }));

  const dpo = runFlags(program.command('dpo'), 'runs/dpo')
    .description('Direct Preference Optimization (sigmoid or IPO) on preference pairs or rankings, loss on response tokens')
    .requiredOption('--model <dir>', 'the SFT model folder (policy and reference)')
    .option('--recipe <name|file>', 'recipe in recipes/ (dpo) or a JSON file', 'dpo');
  addRecipeFlags(dpo, DpoSchema)
    .addHelpText('after', '\nExamples:\n  heed dpo --model runs/demo/sft/best --data runs/prefs.db --out runs/dpo\n  heed dpo --model my-sft --data pairs.jsonl --loss ipo --beta 0.5 --method lora --out runs/ipo')
    .action((o: Record<string, unknown> & { out: string; recipe: string; model: string }) => guard(() => {
      const r = loadRecipe(DpoSchema, o.recipe, recipeOverrides(o, DpoSchema));
      trainDpo(r, o.model, readRankings(r.data, r.rater), runOptions(o));
    }));

  for (const [name, schema, what, example] of [
    ['ppo', PpoSchema, 'RLHF with PPO against a reward model (value model from the reward model, KL leash to the SFT model, optional PPO-ptx)',
      '  heed ppo --model runs/demo/sft/best --reward-model runs/rm/final --out runs/ppo\n  heed ppo --model runs/demo/sft/best --reward-model runs/rm/final --kl-coef 0 --out runs/ppo-nokl\n  heed ppo --model runs/demo/sft/best --reward-model runs/rm/final --ptx-coef 1 --out runs/ppo-ptx'],
    ['grpo', GrpoSchema, 'GRPO: G samples per prompt, group-relative advantages, rewards from the verifiable judge, the rules, a reward model, or a sum',
      '  heed grpo --model runs/demo/sft/best --rewards verifiable --out runs/grpo\n  heed grpo --model runs/demo/sft/best --rewards verifiable,rules --group-size 8 --kl-coef 0 --out runs/grpo'],
  ] as const) {
    const c = runFlags(program.command(name), `runs/${name}`)
      .description(what)
      .requiredOption('--model <dir>', 'the SFT model folder (the policy; also its reference)')
      .option('--recipe <name|file>', `recipe in recipes/ (${name}) or a JSON file`, name);
    addRecipeFlags(c, schema)
      .addHelpText('after', `\nExamples:\n${example}`)
      .action((o: Record<string, unknown> & { out: string; recipe: string; model: string }) => guard(() => {
        trainRl(loadRecipe(schema, o.recipe, recipeOverrides(o, schema)), o.model, runOptions(o));
      }));
  }

  // options after `score` belong to it, not to `reward` (both take --model)
  rw.enablePositionalOptions();
  rw.command('score')
    .description('score conversations (each ending with an assistant turn) with a reward model; prints JSON lines')
    .requiredOption('--model <dir>', 'reward model folder (…ForSequenceClassification)')
    .requiredOption('--data <file>', 'JSONL of conversations (OpenAI messages, ShareGPT or Alpaca)')
    .option('--max-length <n>', 'most tokens of prompt + response', int('--max-length'), 512)
    .addHelpText('after', '\nExample:\n  heed reward score --model runs/rm/final --data chats.jsonl')
    .action((o: { model: string; data: string; maxLength: number }) => guard(() => {
      const m = loadModel(o.model);
      if (m.model.cfg.head !== 'score') throw new Error(`${o.model}: not a reward model (config.json architectures is not …ForSequenceClassification)`);
      const convs = readConversations(o.data).items;
      if (!convs.length) throw new Error(`${o.data} holds no conversations`);
      noGrad(() => convs.forEach((c, i) => {
        const msgs = c.messages, last = msgs[msgs.length - 1];
        if (last?.role !== 'assistant') throw new Error(`${o.data}: conversation ${i + 1} does not end with an assistant turn to score`);
        const enc = encodeRanking(m.tok, { messages: msgs.slice(0, -1), responses: [{ text: last.content, endedTurn: true }], groups: [[0]] }, o.maxLength);
        const s = scores(m.model, scoreBatch([{ prompt: enc.prompt, response: enc.responses[0]! }])).f32[0]!;
        console.log(JSON.stringify({ index: i, score: Number(s.toFixed(6)) }));
      }));
    }));
}
