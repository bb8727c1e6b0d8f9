// `heed data`: build the built-in instruction mixture into JSONL files, or check a user's JSONL.
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DataFormatError, readConversations, writeConversations, type ConversationFormat } from '../../data/formats.js';
import { buildMixture, familyNames, toConversation, type Example } from '../../data/mixture.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { DEFAULT_ZERO_SHOT } from '../../data/tasks/index.js';
import { checkOutDir, guard, int } from '../util.js';

/** Most examples per family a split may ask for: far above any use, far below running out of memory. */
const MAX_PER_FAMILY = 100_000;

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');

function writeSplit(file: string, examples: readonly Example[]): void {
  writeConversations(file, examples.map(toConversation), 'openai', (i) => {
    const e = examples[i] as Example;
    return { id: e.id, family: e.family, template: e.template, answer: e.answer, ...(e.accept ? { accept: e.accept } : {}) };
  });
}

interface MixtureFlags { seed: number; trainPerFamily: number; evalPerFamily: number; zeroShot?: string[] }

/** Writes the three splits, then families.json last: a folder with families.json is complete. */
function writeMixture(out: string, opts: MixtureFlags): void {
  checkOutDir('--out', out);
  const m = buildMixture({
    seed: opts.seed,
    trainPerFamily: opts.trainPerFamily,
    evalPerFamily: opts.evalPerFamily,
    ...(opts.zeroShot ? { heldoutFamilies: opts.zeroShot } : {}),
  });
  writeSplit(join(out, 'train.jsonl'), m.train);
  writeSplit(join(out, 'heldout.jsonl'), m.heldout);
  writeSplit(join(out, 'zeroshot.jsonl'), m.zeroShot);
  writeJsonAtomic(join(out, 'families.json'), { seed: opts.seed, families: m.families });
  const zs = m.families.filter((f) => f.zeroShot).map((f) => f.name);
  console.log(`wrote ${out}: ${m.train.length} train, ${m.heldout.length} held-out, ${m.zeroShot.length} zero-shot examples; ` +
    `${m.families.length} families (zero-shot: ${zs.join(', ')})`);
}

/** Prints counts for a good file; every `file:line` problem and exit code 1 for a bad one. */
function checkFile(file: string, format: ConversationFormat | 'auto'): void {
  let r;
  try {
    r = readConversations(file, { format });
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw e;
    for (const line of e.errors) console.error(line);
    throw new Error(`${file}: ${e.errors.length} bad line${e.errors.length === 1 ? '' : 's'}`);
  }
  if (r.items.length === 0) throw new Error(`${file}: holds no conversations (the file is empty or blank)`);
  const turns = r.items.reduce((a, c) => a + c.messages.length, 0);
  const withSystem = r.items.filter((c) => c.messages[0]?.role === 'system').length;
  const multi = r.items.filter((c) => c.messages.filter((m) => m.role === 'assistant').length > 1).length;
  console.log(`${file}: ok, format ${r.format}, ${r.items.length} conversations, ${turns} messages, ${withSystem} with a system prompt, ${multi} multi-turn`);
}

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('Build the built-in instruction mixture (train, held-out and zero-shot JSONL), or check a JSONL file.')
    .addHelpText('after', '\nExamples:\n  heed data --out data/mix\n  heed data check my-chats.jsonl')
    .option('--out <dir>', 'folder to write train.jsonl, heldout.jsonl, zeroshot.jsonl and families.json into')
    .option('--seed <n>', 'seed for the item split, template choice and order', int('--seed', 0), 0)
    .option('--train-per-family <n>', 'training examples per trained family', int('--train-per-family', 0, MAX_PER_FAMILY), 500)
    .option('--eval-per-family <n>', 'held-out (and zero-shot) examples per family, fewer where a family has fewer items', int('--eval-per-family', 0, MAX_PER_FAMILY), 50)
    .option('--zero-shot <families>', `comma-separated families kept out of training (default ${DEFAULT_ZERO_SHOT.join(',')})`, list)
    .action((opts: MixtureFlags & { out?: string }) => {
      // --out is checked here, not with requiredOption, so that `heed data check` does not demand it.
      if (!opts.out) data.error('error: option --out <dir> is required (or use `heed data check FILE`)');
      const known = new Set(familyNames());
      const unknown = (opts.zeroShot ?? []).filter((f) => !known.has(f));
      if (unknown.length > 0) data.error(`error: unknown task famil${unknown.length === 1 ? 'y' : 'ies'} ${unknown.join(', ')}`);
      return guard(() => writeMixture(opts.out as string, opts));
    });
  data.addHelpText('after', `\nFamilies: ${familyNames().join(', ')}`);

  data
    .command('check <file>')
    .description('Validate a conversation JSONL file (Alpaca, ShareGPT or OpenAI messages) and print counts or file:line errors.')
    .addHelpText('after', '\nExample:\n  heed data check my-chats.jsonl --format sharegpt')
    .option('--format <format>', 'auto, alpaca, sharegpt or openai', (v: string) => {
      if (!['auto', 'alpaca', 'sharegpt', 'openai'].includes(v)) throw new InvalidArgumentError('expected auto, alpaca, sharegpt or openai');
      return v;
    }, 'auto')
    .action((file: string, opts: { format: string }) => guard(() => checkFile(file, opts.format as ConversationFormat | 'auto')));
}
