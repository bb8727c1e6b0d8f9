// The server side of the serving benchmark: a preset's shapes with random weights (as `heed init`
// writes them) and a real tokenizer (GPT-2's own for gpt2, a ChatML BPE trained on Moby-Dick for
// the small presets), served by heed serve's library on a loopback port, printed as one JSON line.
import '../src/kernels/native.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, type PresetName } from '../src/models/config.js';
import { Transformer } from '../src/models/transformer.js';
import { Tokenizer, loadTokenizerFolder, saveTokenizerFolder, trainBPE } from '../src/tokenizer/index.js';
import { buildCorpus } from '../src/data/index.js';
import { ModelRegistry } from '../src/serve/models.js';
import { listen } from '../src/serve/app.js';
import { gpt2TokenizerJson } from '../test/tokenizer/helpers.js';
import { flag } from './common.js';

const name = flag('config', 'tiny') as PresetName, cfg = PRESETS[name];
if (!cfg) throw new Error(`unknown preset '${name}'`);
const dir = mkdtempSync(join(tmpdir(), 'heed-bench-serve-'));
if (name === 'gpt2') saveTokenizerFolder(dir, Tokenizer.fromJSON(await gpt2TokenizerJson()), { chatTemplate: null, eosToken: '<|endoftext|>' });
else saveTokenizerFolder(dir, trainBPE(buildCorpus({ sources: ['moby-dick'], valFraction: 0, seed: 0 }).train, { vocabSize: Math.min(cfg.vocabSize, 4096) }));
const reg = new ModelRegistry();
reg.add({ id: name, model: Transformer.init(cfg, 0), tok: loadTokenizerFolder(dir), contextLength: cfg.maxPositions, created: 0 });
const s = await listen(reg, { port: 0, parallel: Number(flag('parallel', '32')), queue: Number(flag('queue', '64')) });
console.log(JSON.stringify({ url: s.url, model: name }));
process.once('SIGTERM', () => void s.close().then(() => process.exit(0)));
