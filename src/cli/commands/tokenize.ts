// `heed tokenize`: encode a text to token ids (printed as JSON) with a folder's tokenizer, or
// decode ids back to text.
import type { Command } from 'commander';
import { loadTokenizerFolder, type Tokenizer } from '../../tokenizer/index.js';
import { decodeText } from '../../util/text.js';
import { guard } from '../util.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return decodeText(Buffer.concat(chunks), 'stdin');
}

/** `input` as a JSON list of ids that are in the vocabulary. */
function parseIds(input: string, tokenizer: Tokenizer): number[] {
  let ids: unknown;
  try {
    ids = JSON.parse(input);
  } catch {
    throw new Error(`--decode expects a JSON array of token ids, got ${JSON.stringify(input.slice(0, 60))}`);
  }
  if (!Array.isArray(ids)) throw new Error(`--decode expects a JSON array of token ids, got ${JSON.stringify(input.slice(0, 60))}`);
  ids.forEach((x, i) => {
    if (!Number.isInteger(x)) throw new Error(`--decode expects a JSON array of integer token ids; item ${i + 1} is ${JSON.stringify(x)}`);
    if (x < 0 || x >= tokenizer.vocabSize) throw new Error(`--decode: item ${i + 1} (${x}) is not a token id in [0, ${tokenizer.vocabSize})`);
  });
  return ids as number[];
}

export function register(program: Command): void {
  program
    .command('tokenize')
    .description('Print the token ids of a text as JSON (or, with --decode, the text of a JSON list of ids)')
    .addHelpText('after', '\nExamples:\n  heed tokenize --tokenizer runs/demo/pretrain/model --text "Call me Ishmael."\n  heed tokenize --tokenizer runs/demo/pretrain/model --decode --text "[67, 394, 399]"')
    .requiredOption('--tokenizer <dir>', 'folder holding tokenizer.json (a Hugging Face model or tokenizer folder)')
    .option('--text <text>', 'the text to encode, or with --decode a JSON array of ids; read from stdin when omitted')
    .option('--decode', 'decode a JSON array of ids to text instead of encoding')
    .option('--skip-special-tokens', 'with --decode, leave out special tokens such as <|im_end|>')
    .action((opts: { tokenizer: string; text?: string; decode?: boolean; skipSpecialTokens?: boolean }) => guard(async () => {
      const { tokenizer } = loadTokenizerFolder(opts.tokenizer);
      const input = opts.text ?? (await readStdin());
      if (opts.decode) {
        const ids = parseIds(input, tokenizer);
        process.stdout.write(tokenizer.decode(ids, { skipSpecialTokens: opts.skipSpecialTokens ?? false }) + '\n');
      } else {
        process.stdout.write(JSON.stringify(tokenizer.encode(input)) + '\n');
      }
    }));
}
