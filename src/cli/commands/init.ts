// `heed init`: writes a randomly initialised Hugging Face model folder for a preset.
import type { Command } from 'commander';
import { PRESETS, type PresetName } from '../../models/config.js';
import { Transformer } from '../../models/transformer.js';
import { saveModel } from '../../models/load.js';
import { loadTokenizerFolder, trainBPE, type Tokenizer } from '../../tokenizer/index.js';
import { buildCorpus } from '../../data/index.js';
import { checkOutDir, guard, int } from '../util.js';

/** A byte-level BPE trained on Moby-Dick (a few seconds), for presets that ship no tokenizer. */
export function defaultTokenizer(vocabSize: number): Tokenizer {
  const corpus = buildCorpus({ sources: ['moby-dick'], valFraction: 0, seed: 0 });
  return trainBPE(corpus.train, { vocabSize });
}

export function register(program: Command): void {
  program
    .command('init')
    .description('write a randomly initialised Hugging Face model folder (config.json, model.safetensors, tokenizer files)')
    .requiredOption('--preset <name>', `model shape: ${Object.keys(PRESETS).join(', ')}`)
    .requiredOption('--out <dir>', 'output folder')
    .option('--seed <n>', 'initialisation seed', int('--seed'), 0)
    .option('--tokenizer <dir>', 'copy the tokenizer from this folder instead of training a small one on Moby-Dick')
    .addHelpText('after', '\nExample:\n  heed init --preset llama-tiny --out models/llama-tiny')
    .action((o: { preset: string; out: string; seed: number; tokenizer?: string }) => guard(() => {
      if (!Object.hasOwn(PRESETS, o.preset)) throw new Error(`unknown preset '${o.preset}' (choose from ${Object.keys(PRESETS).join(', ')})`);
      const base = PRESETS[o.preset as PresetName];
      // refused before any work: init never writes into, or over, a folder that holds something
      checkOutDir('--out', o.out, { empty: true });
      const tok = o.tokenizer ? loadTokenizerFolder(o.tokenizer).tokenizer : defaultTokenizer(Math.min(base.vocabSize, 4096));
      if (tok.vocabSize > base.vocabSize) throw new Error(`--tokenizer ${o.tokenizer}: the tokenizer has ${tok.vocabSize} tokens, more than the preset's ${base.vocabSize}`);
      const eos = tok.tokenToId('<|endoftext|>') ?? base.eosTokenId;
      const cfg = { ...base, eosTokenId: eos ?? null, bosTokenId: base.bosTokenId === null ? null : eos ?? null };
      const model = Transformer.init(cfg, o.seed);
      saveModel(o.out, model, tok);
      console.log(`wrote ${o.out}: ${o.preset}, ${(model.numParams() / 1e6).toFixed(2)}M parameters, tokenizer of ${tok.vocabSize} tokens`);
    }));
}
