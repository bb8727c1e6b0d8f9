// Held-out task evaluation: greedy answers, batched, to examples the model never trained on (and to
// whole families it never saw), scored by each family's metric, plus format compliance: a reply
// must end with the end-of-turn token within the token limit (no runaway generation).
import type { Transformer } from '../models/transformer.js';
import type { TokenizerFolder } from '../tokenizer/index.js';
import { renderPrompt, stopTokenIds } from '../tokenizer/index.js';
import { generate } from '../models/generate.js';
import { buildMixture, exactMatch, normalizedMatch, type Example, type FamilyInfo } from '../data/index.js';
import { loadModel } from '../models/load.js';

export interface EvalOptions {
  batchSize?: number; maxNewTokens?: number; onProgress?: (done: number, total: number) => void;
  /** keep every reply in `samples` (default: the first 400), e.g. to judge them against another model's */
  keepAllSamples?: boolean;
}

export interface FamilyScore { n: number; correct: number; accuracy: number }

export interface TaskReport {
  n: number;
  /** by each family's own metric (exact where case/format is the point, normalised otherwise) */
  accuracy: number;
  exactMatch: number;
  normalizedMatch: number;
  /** replies that ended with the end-of-turn token */
  formatCompliance: number;
  /** replies cut off by the token limit */
  runaway: number;
  perFamily: Record<string, FamilyScore>;
  /** replies in example order; `ended`: it ended its turn within the limit */
  samples: Array<{ family: string; prompt: string; answer: string; output: string; correct: boolean; ended: boolean }>;
}

export function evaluateTasks(model: Transformer, tok: TokenizerFolder, examples: readonly Example[], families: readonly FamilyInfo[], o: EvalOptions = {}): TaskReport {
  if (!tok.chatTemplate) throw new Error('the model has no chat template (tokenizer_config.json chat_template or chat_template.jinja); evaluation asks in chat turns');
  const bs = o.batchSize ?? 16, maxNew = o.maxNewTokens ?? 32;
  const prompts = examples.map((e) => renderPrompt(tok.tokenizer, tok.chatTemplate!, e.messages.map((m) => ({ role: m.role, content: m.content }))));
  // batches of similar prompt length waste less on padding
  const order = [...examples.keys()].sort((a, b) => prompts[a]!.length - prompts[b]!.length);
  const outputs = new Array<string>(examples.length), stopped = new Array<boolean>(examples.length);
  const stops = stopTokenIds(tok);
  for (let i = 0; i < order.length; i += bs) {
    const idx = order.slice(i, i + bs);
    const r = generate(model, idx.map((j) => prompts[j]!), { maxNewTokens: maxNew, stopTokens: stops, decode: (t) => tok.tokenizer.decode(t, { skipSpecialTokens: true }) });
    idx.forEach((j, k) => { outputs[j] = r.texts![k]!; stopped[j] = r.finish[k] === 'stop'; });
    o.onProgress?.(Math.min(i + bs, order.length), order.length);
  }
  return scoreOutputs(examples, outputs, stopped, families, o.keepAllSamples ? Infinity : 400);
}

/**
 * Scores replies: `outputs[i]` answers `examples[i]`, `stopped[i]` says it ended with the
 * end-of-turn token within the limit. Accuracy uses each family's metric (exact: the trimmed reply
 * equals the answer or an accepted variant; normalised: equal after SQuAD normalisation); a family
 * not in `families` is scored normalised.
 */
export function scoreOutputs(examples: readonly Example[], outputs: readonly string[], stopped: readonly boolean[], families: readonly FamilyInfo[], keep = 400): TaskReport {
  if (outputs.length !== examples.length || stopped.length !== examples.length) {
    throw new Error(`scoreOutputs: ${examples.length} examples but ${outputs.length} outputs and ${stopped.length} stop flags`);
  }
  const metric = new Map(families.map((f) => [f.name, f.metric]));
  let correct = 0, exact = 0, norm = 0, fmt = 0;
  const perFamily: Record<string, FamilyScore> = {}, samples: TaskReport['samples'] = [];
  examples.forEach((e, i) => {
    const out = outputs[i]!.trim(), refs = [e.answer, ...(e.accept ?? [])];
    const ex = refs.some((r) => exactMatch(out, r)), nm = normalizedMatch(out, refs);
    const ok = metric.get(e.family) === 'exact' ? ex : nm;
    correct += +ok; exact += +ex; norm += +nm; fmt += +stopped[i]!;
    const f = (perFamily[e.family] ??= { n: 0, correct: 0, accuracy: 0 });
    f.n++; f.correct += +ok;
    if (samples.length < keep) samples.push({ family: e.family, prompt: e.messages.map((m) => m.content).join('\n'), answer: e.answer, output: outputs[i]!, correct: ok, ended: stopped[i]! });
  });
  for (const f of Object.values(perFamily)) f.accuracy = f.correct / f.n;
  const n = Math.max(1, examples.length);
  return { n: examples.length, accuracy: correct / n, exactMatch: exact / n, normalizedMatch: norm / n, formatCompliance: fmt / n, runaway: (examples.length - fmt) / n, perFamily, samples };
}

export interface EvalSets { heldout: Example[]; zeroShot: Example[]; families: FamilyInfo[] }

/** The evaluation sets: the same split SFT used for this seed, so nothing here was trained on. */
export function evalSets(seed: number, perFamily: number): EvalSets {
  const mix = buildMixture({ seed, trainPerFamily: 1, evalPerFamily: perFamily });
  return { heldout: mix.heldout, zeroShot: mix.zeroShot, families: mix.families };
}

export interface ModelScores { heldout: TaskReport; zeroShot: TaskReport }

/** Refuses, naming the folder, a model that cannot be asked in chat turns. */
export function requireChatTemplate(tok: TokenizerFolder, dir: string): void {
  if (!tok.chatTemplate) throw new Error(`${dir}: the model has no chat template (tokenizer_config.json chat_template or chat_template.jinja); evaluation asks in chat turns`);
}

export function scoreModel(dir: string, adapter: string | undefined, sets: EvalSets, maxNewTokens = 32): ModelScores {
  const { model, tok } = loadModel(dir, { adapter });
  requireChatTemplate(tok, dir);
  return {
    heldout: evaluateTasks(model, tok, sets.heldout, sets.families, { maxNewTokens }),
    zeroShot: evaluateTasks(model, tok, sets.zeroShot, sets.families, { maxNewTokens }),
  };
}
