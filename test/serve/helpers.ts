// A small served model for the server tests, made with heed's own library: a byte-level BPE
// trained on Moby-Dick's opening paragraphs with ChatML specials, a seeded tiny Llama-shaped model, a
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
import { ModelRegistry } from '../../src/serve/models.js';
import { listen, type RunningServer, type ServeOptions } from '../../src/serve/app.js';

/** Moby-Dick's opening (public domain): enough text for a few hundred BPE merges, in no time. */
const TEXT = `Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; whenever I find myself involuntarily pausing before coffin warehouses, and bringing up the rear of every funeral I meet; and especially whenever my hypos get such an upper hand of me, that it requires a strong moral principle to prevent me from deliberately stepping into the street, and methodically knocking people's hats off—then, I account it high time to get to sea as soon as I can. This is my substitute for pistol and ball. With a philosophical flourish Cato throws himself upon his sword; I quietly take to the ship. There is nothing surprising in this. If they but knew it, almost all men in their degree, some time or other, cherish very nearly the same feelings towards the ocean with me. There now is your insular city of the Manhattoes, belted round by wharves as Indian isles by coral reefs—commerce surrounds it with her surf. Right and left, the streets take you waterward. Its extreme downtown is the battery, where that noble mole is washed by waves, and cooled by breezes, which a few hours previous were out of sight of land. Look at the crowds of water-gazers there. Circumambulate the city of a dreamy Sabbath afternoon. Go from Corlears Hook to Coenties Slip, and from thence, by Whitehall, northward. What do you see?—Posted like silent sentinels all around the town, stand thousands upon thousands of mortal men fixed in ocean reveries. Some leaning against the spiles; some seated upon the pier-heads; some looking over the bulwarks of ships from China; some high aloft in the rigging, as if striving to get a still better seaward peep. But these are all landsmen; of week days pent up in lath and plaster—tied to counters, nailed to benches, clinched to desks. How then is this? Are the green fields gone? What do they here?`;

export interface TinyFolders { root: string; model: string; adapter: string; contextLength: number }

let made: TinyFolders | null = null;

/** Model and adapter folders (made once per test file). */
export function tinyFolders(): TinyFolders {
  if (made) return made;
  const root = mkdtempSync(join(tmpdir(), 'heed-serve-'));
  const tok = trainBPE(TEXT.split('. '), { vocabSize: 512 });
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
