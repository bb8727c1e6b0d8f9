// `heed feedback`: import rankings or preference pairs into the feedback store, export them as
// rankings or pairs for TRL and LLaMA-Factory, and summarise what the store holds.
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { toJsonl } from '../../data/formats.js';
import { llamaFactoryDatasetInfo } from '../../data/preferences.js';
import { EXPORT_FORMATS, exportRecords, importFile, type ExportFormat, type ImportOptions } from '../../feedback/io.js';
import { FeedbackStore, type FeedbackStats } from '../../feedback/store.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { guard } from '../util.js';

function oneOf<T extends string>(flag: string, values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/** Opens the store, runs `fn`, and always closes it. */
function withStore<T>(db: string, create: boolean, fn: (s: FeedbackStore) => T): T {
  const store = FeedbackStore.open(db, { create });
  try { return fn(store); } finally { store.close(); }
}

function printStats(db: string, s: FeedbackStats): void {
  console.log(`${db}: ${s.prompts} prompts (${s.rankable} with 2+ responses), ${s.responses} responses`);
  console.log(`rankings ${s.rankings} (${s.tied} with ties), skips ${s.skips}, implied pairs ${s.pairs}, judgments ${s.judgments}`);
  if (s.raters.length === 0) return;
  console.log('rater\tkind\trankings\tskips\tmean time');
  for (const r of s.raters) {
    console.log(`${r.rater}\t${r.kind}\t${r.rankings}\t${r.skips}\t${r.meanTimeMs === null ? '-' : `${(r.meanTimeMs / 1000).toFixed(1)} s`}`);
  }
}

export function register(program: Command): void {
  const fb = program
    .command('feedback')
    .description('The feedback store (SQLite): import and export rankings and preference pairs, and count what it holds.')
    .addHelpText('after', '\nExamples:\n  heed feedback import --db feedback.db rankings.jsonl\n  heed feedback export --db feedback.db --format trl --out pairs.jsonl\n  heed feedback stats --db feedback.db');

  fb.command('import <file>')
    .description('Add a JSONL file to the store in one transaction (every line or none): rankings, TRL pairs or LLaMA-Factory pairs.')
    .addHelpText('after', '\nA pair becomes a ranking of two (chosen over rejected) under --rater.\n\nExamples:\n  heed feedback import --db feedback.db rankings.jsonl\n  heed feedback import --db feedback.db --rater ultrafeedback dpo-pairs.jsonl')
    .requiredOption('--db <file>', 'the feedback store (created when missing)')
    .option('--format <format>', 'auto, rankings, trl or llamafactory', oneOf('--format', ['auto', 'rankings', 'trl', 'llamafactory'] as const), 'auto')
    .option('--rater <name>', 'rater recorded for the rankings made from pairs', 'import')
    .action((file: string, o: { db: string; format: ImportOptions['format']; rater: string }) => guard(() => {
      if (o.rater.trim() === '') throw new Error('--rater must not be empty');
      const r = withStore(o.db, true, (s) => importFile(s, file, { ...(o.format ? { format: o.format } : {}), rater: o.rater }));
      console.log(`${file} (${r.format}) -> ${o.db}: ${r.prompts} prompts, ${r.responses} responses, ${r.rankings} rankings, ${r.skips} skips`);
    }));

  fb.command('export')
    .description('Write the rankings, or the preference pairs they imply (ties give none), as JSONL.')
    .addHelpText('after', [
      '',
      'Formats:',
      '  rankings      one line per ranking: prompt, responses, tie groups best first, rater (what import reads)',
      '  pairs         one line per pair: TRL conversational fields plus prompt, ranking, rater and response ids',
      '  trl           TRL standard: {"prompt", "chosen", "rejected"} as strings',
      '  trl-messages  TRL conversational: prompt, chosen and rejected as message lists',
      '  llamafactory  LLaMA-Factory sharegpt preference: "conversations", "chosen", "rejected" (and "system")',
      '',
      'Example:',
      '  heed feedback export --db feedback.db --format llamafactory --out data/prefs.jsonl',
    ].join('\n'))
    .requiredOption('--db <file>', 'the feedback store')
    .requiredOption('--format <format>', EXPORT_FORMATS.join(', '), oneOf('--format', EXPORT_FORMATS))
    .requiredOption('--out <file>', 'JSONL file to write (atomically)')
    .action((o: { db: string; format: ExportFormat; out: string }) => guard(() => {
      const rows = withStore(o.db, false, (s) => exportRecords(s, o.format));
      writeFileAtomic(o.out, toJsonl(rows));
      console.log(`wrote ${o.out}: ${rows.length} ${o.format === 'rankings' ? 'rankings' : 'pairs'} (${o.format})`);
      if (o.format === 'llamafactory') {
        console.log('LLaMA-Factory dataset_info.json entry:');
        console.log(JSON.stringify(llamaFactoryDatasetInfo('heed_preferences', basename(o.out)), null, 2));
      }
    }));

  fb.command('stats')
    .description('Count prompts, responses, rankings by rater, skips, judgments and implied pairs.')
    .addHelpText('after', '\nExample:\n  heed feedback stats --db feedback.db --json')
    .requiredOption('--db <file>', 'the feedback store')
    .option('--json', 'print the counts as JSON')
    .action((o: { db: string; json?: boolean }) => guard(() => {
      const s = withStore(o.db, false, (st) => st.stats());
      if (o.json) console.log(JSON.stringify(s, null, 2));
      else printStats(o.db, s);
    }));
}
