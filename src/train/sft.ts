// `heed sft`: supervised fine-tuning of a model folder on conversations, loss on assistant tokens
// only (renderConversation's mask), packed rows, full fine-tuning or LoRA / QLoRA (NF4 base). The
// run folder keeps checkpoints and metrics; the best validation step is exported as a PEFT adapter
// (LoRA, QLoRA) or a model folder (full).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Rng } from '../core/rng.js';
import { loadModel, saveModel } from '../models/load.js';
import { saveAdapter } from '../models/peft.js';
import { readBytes } from '../util/text.js';
import { buildCorpus, buildMixture, type CorpusSource, readConversations, releaseDataCaches, toConversation, type Conversation } from '../data/index.js';
import { chunkDocuments, packSequences, type PackedRow } from '../data/pack.js';
import { renderConversation, type Tokenizer } from '../tokenizer/index.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { Transformer } from '../models/transformer.js';
import { RunDir } from './checkpoint.js';
import { EpochOrder, evalLmLoss, lmLoss, trainLoop, type Batch, type BatchSource } from './loop.js';
import type { RunOptions, SftRecipe } from './recipes.js';

export interface SftResult { outDir: string; steps: number; bestVal: number | null; bestStep: number | null; seconds: number; tokensPerSec: number; trainRows: number; replayRows: number; trainExamples: number; peakRssMb: number; stoppedEarly: boolean; plannedSteps?: number }

/**
 * Packed rows as batches, in a seeded order per epoch. Inputs and next-token targets (−100 where
 * nothing is trained, or where the next token starts another packed conversation) are laid out
 * once in two typed arrays, so training holds no per-row objects for the GC to walk.
 */
export class PackedSource implements BatchSource {
  private readonly order: EpochOrder;
  private readonly ids: Int32Array; private readonly targets: Int32Array; private readonly segments: Int32Array;
  constructor(packed: readonly PackedRow[], private readonly B: number, private readonly T: number, seed: number, shuffle = true) {
    const n = packed.length;
    this.ids = new Int32Array(n * T);
    this.segments = new Int32Array(n * T);
    this.targets = new Int32Array(n * T).fill(-100);
    packed.forEach((r, i) => {
      for (let t = 0; t < T; t++) {
        this.ids[i * T + t] = r.ids[t]!;
        this.segments[i * T + t] = r.segmentIds[t]!;
        if (t + 1 < T && r.lossMask[t + 1] && r.segmentIds[t + 1] === r.segmentIds[t]) this.targets[i * T + t] = r.ids[t + 1]!;
      }
    });
    this.order = new EpochOrder(n, seed, shuffle);
  }
  next(): Batch {
    const { B, T } = this, ids = new Int32Array(B * T), targets = new Int32Array(B * T), segments = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const r = this.order.next() * T;
      ids.set(this.ids.subarray(r, r + T), b * T);
      targets.set(this.targets.subarray(r, r + T), b * T);
      segments.set(this.segments.subarray(r, r + T), b * T);
    }
    return { ids, targets, B, T, segments };
  }
  state(): unknown { return this.order.state(); }
  load(s: unknown): void { this.order.load(s); }
  get batchSize(): number { return this.B; }
}

/** Reads training and validation conversations from the recipe; too little data is an error. */
export function sftData(r: SftRecipe): { train: Conversation[]; val: Conversation[]; note: string } {
  if (r.data) {
    const tr = readConversations(r.data, { skipBadLines: r.skipBadLines });
    let note = `${tr.items.length} conversations from ${r.data} (${tr.format})`;
    if (tr.skipped) note += `, ${tr.skipped} bad lines skipped`;
    const n = tr.items.length, have = `${r.data} holds ${n === 0 ? 'no conversations' : n === 1 ? 'one conversation' : `${n} conversations`}`;
    if (r.valData) {
      if (n < 1) throw new Error(`${have}; SFT needs at least one to train on`);
      const val = readConversations(r.valData, { skipBadLines: r.skipBadLines }).items;
      if (val.length < 1) throw new Error(`${r.valData} holds no conversations; validation needs at least one`);
      return { train: tr.items, val, note };
    }
    // hold out 5% (at least 1) for validation
    if (n < 2) throw new Error(`${have}; SFT needs at least 2 (one is held out for validation), or pass a validation file`);
    const idx = new Rng(r.seed).shuffle([...tr.items.keys()]), nv = Math.max(1, Math.floor(n * 0.05));
    return { train: idx.slice(nv).map((i) => tr.items[i]!), val: idx.slice(0, nv).map((i) => tr.items[i]!), note };
  }
  const mix = buildMixture({ seed: r.seed, trainPerFamily: r.trainPerFamily, evalPerFamily: r.evalPerFamily });
  return {
    train: mix.train.map(toConversation), val: mix.validation.map(toConversation),
    note: `built-in mixture: ${mix.train.length} examples from ${mix.families.filter((f) => !f.zeroShot).length} families`,
  };
}

/**
 * Replay: `rows` rows of seqLen tokens of the built-in pretraining corpus (its training documents
 * in a seeded order, joined with <|endoftext|> as in pretraining), loss on every token. Mixed into
 * fine-tuning they keep what the base model learned in pretraining (facts the SFT data only asks
 * about) from being overwritten by full fine-tuning.
 */
export function replayRows(tok: Tokenizer, o: { sources: readonly CorpusSource[]; rows: number; seqLen: number; seed: number; eosId: number }): PackedRow[] {
  const T = o.seqLen;
  if (o.rows <= 0) return [];
  const docs = new Rng(o.seed + 1).shuffle([...buildCorpus({ sources: o.sources, valFraction: 0.03, seed: o.seed }).train]);
  // tokenize only as many documents as the rows need (pretraining's chunker wants one token more)
  const encoded: number[][] = [];
  for (let n = 0, i = 0; n < o.rows * T + 1 && i < docs.length; i++) { const ids = tok.encode(docs[i]!); encoded.push(ids); n += ids.length + 1; }
  const out = chunkDocuments(encoded, { seqLen: T, eosId: o.eosId }).windows.slice(0, o.rows)
    .map((w) => ({ ids: Array.from(w.subarray(0, T)), lossMask: new Array<number>(T).fill(1), segmentIds: new Array<number>(T).fill(1) }));
  // the corpus loaders' caches would otherwise stay live for the whole run, and V8 would mark them
  // again at every major GC (a 3x slowdown with WordNet's synsets)
  releaseDataCaches();
  tok.clearCache();
  return out;
}

function render(model: Transformer, tok: ReturnType<typeof loadModel>['tok'], convs: Conversation[], seqLen: number, pack: boolean) {
  if (!tok.chatTemplate) throw new Error('the model folder has no chat template (tokenizer_config.json chat_template)');
  const pad = tok.padTokenId ?? tok.eosTokenId ?? 0;
  if (convs.length === 0) return { rows: [], sequences: 0, truncated: 0, empty: 0, padTokens: 0, fill: 0 };
  const seqs = convs.map((c) => renderConversation(tok.tokenizer, tok.chatTemplate!, c.messages.map((m) => ({ role: m.role, content: m.content }))));
  for (const s of seqs) for (const id of s.ids) if (id >= model.cfg.vocabSize) throw new Error(`token id ${id} is outside the model's vocabulary of ${model.cfg.vocabSize}`);
  if (pack) return packSequences(seqs, { seqLen, padId: pad });
  // one conversation per row: pack each alone, then merge the counts
  const each = seqs.map((q) => packSequences([q], { seqLen, padId: pad }));
  const rows = each.flatMap((e) => e.rows), real = seqs.reduce((n, q) => n + Math.min(q.ids.length, seqLen), 0);
  return { rows, sequences: seqs.length, truncated: each.reduce((n, e) => n + e.truncated, 0), empty: each.reduce((n, e) => n + e.empty, 0), padTokens: rows.length * seqLen - real, fill: real / Math.max(1, rows.length * seqLen) };
}

/**
 * Rendered, packed training rows as a batch source and the validation batches. Everything else
 * (conversations, parsed sources, the tokenizer's cache) is dropped before training starts.
 */
function prepare(r: SftRecipe, model: Transformer, tok: ReturnType<typeof loadModel>['tok'], log: (s: string) => void) {
  const data = sftData(r);
  const train = render(model, tok, data.train, r.seqLen, r.pack), val = render(model, tok, data.val, r.seqLen, r.pack);
  releaseDataCaches();
  tok.tokenizer.clearCache();
  log(`sft: ${data.note}; ${train.rows.length} packed rows of ${r.seqLen} (${(train.fill * 100).toFixed(0)}% full${train.truncated ? `, ${train.truncated} truncated` : ''}); ${data.val.length} validation conversations`);
  const nv = Math.min(64, val.rows.length), vs = new PackedSource(val.rows.slice(0, nv), Math.max(1, Math.min(r.batchSize, nv)), r.seqLen, 0, false);
  const valBatches: Batch[] = Array.from({ length: Math.ceil(nv / vs.batchSize) }, () => vs.next());
  const f = r.replay.fraction, nReplay = f > 0 ? Math.round((train.rows.length * f) / (1 - f)) : 0;
  const eosId = tok.tokenizer.tokenToId('<|endoftext|>') ?? tok.eosTokenId;
  if (nReplay && (eosId === undefined || eosId === null)) throw new Error('replay: the tokenizer has no <|endoftext|> or end-of-sequence token to join documents with');
  const replay = replayRows(tok.tokenizer, { sources: r.replay.sources, rows: nReplay, seqLen: r.seqLen, seed: r.seed, eosId: eosId ?? 0 });
  if (nReplay) log(`sft: replay: ${replay.length} rows of pretraining text (${r.replay.sources.join(', ')}), ${(100 * replay.length / (replay.length + train.rows.length)).toFixed(0)}% of training rows`);
  return { source: new PackedSource([...train.rows, ...replay], r.batchSize, r.seqLen, r.seed), valBatches, trainRows: train.rows.length + replay.length, replayRows: replay.length, trainExamples: data.train.length };
}

/** The recipe as the run folder records it: resume refuses a run whose recipe or data differ. */
function runRecord(r: SftRecipe, model: string): Record<string, unknown> {
  const hash = (f: string) => (f ? createHash('sha256').update(readBytes(f)).digest('hex') : null);
  return { ...r, model, dataSha256: hash(r.data), valDataSha256: hash(r.valData) };
}

export function sft(r: SftRecipe, model0: string, run0: RunOptions, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): SftResult {
  const run = new RunDir(run0.out);
  const { model, tok } = loadModel(model0, { nf4: r.method === 'qlora' });
  const record = runRecord(r, model0);
  run.check(record, run0);
  const { source, valBatches, trainRows, replayRows: nReplay, trainExamples } = prepare(r, model, tok, log);
  run.start(record, run0);
  if (r.method === 'full') model.trainAll();
  else model.addLora(r.lora, r.seed);
  const nTrain = model.trainable().reduce((s, [, t]) => s + t.size, 0);
  log(`sft: ${r.method}, ${(nTrain / 1e6).toFixed(3)}M trainable of ${(model.numParams() / 1e6).toFixed(2)}M parameters`);
  const rowsPerStep = r.batchSize * r.gradAccum;
  const steps = r.steps || Math.max(1, Math.ceil((r.epochs * trainRows) / rowsPerStep));
  const bestDir = join(run0.out, 'best');
  const exportTo = (dir: string) => {
    if (r.method === 'full') saveModel(dir, model, tok.tokenizer);
    else saveAdapter(dir, model, model0);
  };
  const res = trainLoop({
    run, params: model.trainable(), data: source, lossOf: (b) => lmLoss(model, b, true), steps, lr: r.lr,
    ...(r.timeBudgetSec ? { timeBudgetSec: r.timeBudgetSec } : {}), warmupRatio: r.warmupRatio, weightDecay: r.weightDecay, betas: [0.9, 0.999], gradAccum: r.gradAccum,
    evalEvery: r.evalEvery, evaluate: () => evalLmLoss(model, valBatches), onBest: () => exportTo(bestDir),
    saveEvery: r.evalEvery, resume: run0.resume ?? false, rngs: { dropout: model.dropoutRng }, label: `sft ${r.method}`, quiet: run0.quiet ?? false,
  });
  exportTo(join(run0.out, 'final'));
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  const out: SftResult = { outDir: run0.out, steps: res.steps, bestVal: res.bestVal, bestStep: res.bestStep, seconds: res.seconds, tokensPerSec: res.tokensPerSec, trainRows, replayRows: nReplay, trainExamples, peakRssMb, stoppedEarly: res.stoppedEarly, ...(res.plannedSteps ? { plannedSteps: res.plannedSteps } : {}) };
  writeJsonAtomic(join(run0.out, 'result.json'), out);
  log(`sft: ${res.steps} steps in ${res.seconds.toFixed(0)}s (${Math.round(res.tokensPerSec)} tok/s); best validation loss ${res.bestVal?.toFixed(3)} at step ${res.bestStep}; ${r.method === 'full' ? 'model' : 'adapter'} in ${bestDir}; peak RSS ${peakRssMb} MB`);
  return out;
}
