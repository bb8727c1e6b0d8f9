// The tokenizer CLI commands, run in-process: train writes a loadable folder; tokenize round-trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inProcess } from '../helpers/cli.js';
import { register as registerTokenize } from '../../src/cli/commands/tokenize.js';
import { register as registerTokenizer } from '../../src/cli/commands/tokenizer.js';
import { loadTokenizerFolder } from '../../src/tokenizer/index.js';
import { corpusLines } from './helpers.js';

const cli = inProcess(registerTokenize, registerTokenizer);
/** stdout of a command that succeeds; rejects with its stderr when it fails. */
async function run(args: string[]): Promise<string> {
  const r = await cli(...args);
  if (r.code !== 0) throw new Error(r.err);
  return r.out;
}

test('heed tokenizer train + heed tokenize', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-cli-'));
  try {
    const input = join(dir, 'corpus.txt');
    writeFileSync(input, corpusLines(2000).join('\n'));
    const out = join(dir, 'tok');
    const summary = JSON.parse(await run(['tokenizer', 'train', '--input', input, '--vocab-size', '600', '--out', out]));
    assert.equal(summary.vocabSize, 600);
    const { tokenizer } = loadTokenizerFolder(out);
    const text = 'The whale, the ship. <|im_end|>';
    const ids = JSON.parse(await run(['tokenize', '--tokenizer', out, '--text', text])) as number[];
    assert.deepEqual(ids, tokenizer.encode(text));
    assert.equal(await run(['tokenize', '--tokenizer', out, '--decode', '--text', JSON.stringify(ids)]), text + '\n');
    assert.equal(await run(['tokenize', '--tokenizer', out, '--decode', '--skip-special-tokens', '--text', JSON.stringify(ids)]),
      'The whale, the ship. \n');
    await assert.rejects(run(['tokenizer', 'train', '--input', input, '--vocab-size', 'lots', '--out', out]), /--vocab-size must be an integer from 259 to 1048576, got 'lots'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
