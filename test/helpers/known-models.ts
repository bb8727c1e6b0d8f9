// Tiny models whose outputs are known exactly, so tests can check values rather than shapes:
// a Markov model (greedy decoding follows a chosen chain of tokens) and an all-zero model
// (a uniform next-token distribution: every log-probability is −ln V).
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS, type ModelConfig } from '../../src/models/config.js';
import { trainBPE, type Tokenizer } from '../../src/tokenizer/index.js';

/** Bytes plus the three ChatML specials (<|endoftext|> 256, <|im_start|> 257, <|im_end|> 258), no merges. */
export function byteTokenizer(): Tokenizer {
  return trainBPE(['abc'], { vocabSize: 259 });
}

/** The id of a special token or of a one-byte string. */
export function idOf(tok: Tokenizer, s: string): number {
  const id = tok.tokenToId(s) ?? (Buffer.byteLength(s) === 1 ? tok.encode(s)[0] : undefined);
  if (id === undefined) throw new Error(`no single token for ${JSON.stringify(s)}`);
  return id;
}

function tinyConfig(tok: Tokenizer, d: number): ModelConfig {
  return {
    ...PRESETS['llama-tiny'], vocabSize: tok.vocabSize, nLayer: 1, dModel: d, nHead: 2, nKvHead: 1, ffn: 8, maxPositions: 32,
    tiedEmbeddings: false, eosTokenId: idOf(tok, '<|im_end|>'), bosTokenId: null,
  };
}

/**
 * A model whose greedy next token depends only on the current one: `chain` maps a token to the
 * next. All block weights are zero, so the residual stream at a position is its token's embedding;
 * each token in the chain embeds as a one-hot e_k, the final RMSNorm makes it √d·e_k, and
 * lm_head[next, k] = 1 gives `next` the largest logit (√d against 0).
 */
export function markovModel(tok: Tokenizer, chain: ReadonlyArray<[string, string]>): Transformer {
  const d = 16;
  if (chain.length > d) throw new Error(`markovModel: at most ${d} links`);
  const model = Transformer.init(tinyConfig(tok, d), 0);
  for (const [name, t] of model.params) t.f32.fill(/norm\.weight$|layernorm\.weight$/.test(name) ? 1 : 0);
  const emb = model.params.get('model.embed_tokens.weight')!.f32, head = model.params.get('lm_head.weight')!.f32;
  chain.forEach(([from, to], k) => { emb[idOf(tok, from) * d + k] = 1; head[idOf(tok, to) * d + k] = 1; });
  return model;
}

/** Every weight zero: logits are 0 for every token at every position, so p = 1/V. */
export function zeroModel(tok: Tokenizer): Transformer {
  const model = Transformer.init(tinyConfig(tok, 8), 0);
  for (const t of model.params.values()) t.f32.fill(0);
  return model;
}
