// A small served model for the server tests, made with heed's own library: a byte-level BPE
// trained on a few lines of Moby-Dick with ChatML specials, a seeded tiny Llama-shaped model, a
// LoRA adapter whose B is non-zero (so it changes the output), and a server listening on port 0.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/kernels/native.js';
import { PRESETS } from '../../src/models/config.js';
import { Transformer } from '../../src/models/transformer.js';
import { saveModel } from '../../src/models/load.js';
import { saveAdapter } from '../../src/models/peft.js';
import { Rng } from '../../src/core/rng.js';
import { trainBPE } from '../../src/tokenizer/index.js';
import { buildCorpus } from '../../src/data/index.js';
import { ModelRegistry } from '../../src/serve/models.js';
import { listen, type RunningServer, type ServeOptions } from '../../src/serve/app.js';

export interface TinyFolders { root: string; model: string; adapter: string; contextLength: number }

let made: TinyFolders | null = null;

/** Model and adapter folders (made once per test file). */
export function tinyFolders(): TinyFolders {
  if (made) return made;
  const root = mkdtempSync(join(tmpdir(), 'heed-serve-'));
  const text = buildCorpus({ sources: ['moby-dick'], valFraction: 0, seed: 0 }).train.slice(0, 200);
  const tok = trainBPE(text, { vocabSize: 512 });
  const contextLength = 512;
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: tok.vocabSize, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 128, maxPositions: contextLength };
  const model = Transformer.init(cfg, 1);
  // larger weights give peakier distributions, so different seeds visibly give different text
  for (const t of model.params.values()) if (t.shape.length === 2) for (let i = 0; i < t.size; i++) (t.data as Float32Array)[i]! *= 4;
  const dir = join(root, 'tiny');
  saveModel(dir, model, tok);
  model.addLora({ r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'], rslora: false });
  const rng = new Rng(2);
  for (const l of model.lora.values()) for (let i = 0; i < l.B.size; i++) l.B.f32[i] = rng.normal() * 0.5;
  const adapter = join(root, 'lora');
  saveAdapter(adapter, model, dir);
  made = { root, model: dir, adapter, contextLength };
  return made;
}

/** A server over the tiny model (as `tiny`) and its adapter (as `tiny:lora`). */
export async function startServer(o: ServeOptions = {}): Promise<RunningServer> {
  const f = tinyFolders();
  const reg = ModelRegistry.load([{ name: 'tiny', dir: f.model }], [{ name: 'lora', dir: f.adapter }]);
  return listen(reg, { port: 0, ...o });
}
