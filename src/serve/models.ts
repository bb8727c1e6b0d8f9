// The models a server serves, by name: each model folder under a name, and each PEFT adapter as
// `model:adapter`, a second Transformer over the same base tensors (never a copy of the weights).
// A request names a model; a name only ever looks up this table, so it can never reach a path.
import { basename, resolve } from 'node:path';
import { loadModel } from '../models/load.js';
import { loadAdapter } from '../models/peft.js';
import { Transformer } from '../models/transformer.js';
import { checkAdaptersFit, storeWeightsSaying, type DecodeWeights } from '../models/stored.js';
import type { TokenizerFolder } from '../tokenizer/index.js';

export interface ServedModel {
  /** `model` or `model:adapter` */
  id: string;
  model: Transformer;
  tok: TokenizerFolder;
  /** positions per sequence, prompt included */
  contextLength: number;
  created: number;
}

export interface ModelSpec { name: string; dir: string }
/** `model` may be omitted when exactly one model is served */
export interface AdapterSpec { model?: string; name: string; dir: string }

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `NAME=DIR` or `DIR` (named after its folder). */
export function parseModelSpec(s: string): ModelSpec {
  const eq = s.indexOf('=');
  const name = eq > 0 ? s.slice(0, eq) : basename(resolve(s)), dir = eq > 0 ? s.slice(eq + 1) : s;
  if (!NAME.test(name)) throw new Error(`--model ${s}: the name '${name}' must be letters, digits, '.', '_' or '-' (give NAME=DIR)`);
  return { name, dir };
}

/** `NAME=DIR` or `MODEL:NAME=DIR`. */
export function parseAdapterSpec(s: string): AdapterSpec {
  const m = /^(?:([^:=]+):)?([^:=]+)=(.+)$/.exec(s);
  if (!m) throw new Error(`--adapter ${s}: expected NAME=DIR or MODEL:NAME=DIR`);
  const [, model, name, dir] = m as unknown as [string, string | undefined, string, string];
  if (!NAME.test(name)) throw new Error(`--adapter ${s}: the name '${name}' must be letters, digits, '.', '_' or '-'`);
  return { ...(model ? { model } : {}), name, dir };
}

export class ModelRegistry {
  private readonly byId = new Map<string, ServedModel>();

  /**
   * Loads every model folder, then every adapter onto its model. weights: how the models' linear
   * layers are stored while serving (f16, bf16, q8_0: fewer bytes per decoded token; see stored.ts).
   */
  static load(models: ModelSpec[], adapters: AdapterSpec[] = [], weights: DecodeWeights = 'f32'): ModelRegistry {
    if (models.length === 0) throw new Error('give at least one --model');
    checkAdaptersFit(weights, adapters.length);
    const reg = new ModelRegistry(), created = Math.floor(Date.now() / 1000);
    for (const { name, dir } of models) {
      if (reg.byId.has(name)) throw new Error(`--model: two models are named '${name}' (give NAME=DIR)`);
      const m = loadModel(dir);
      const model = storeWeightsSaying(m.model, weights, dir);
      reg.add({ id: name, model, tok: m.tok, contextLength: model.cfg.maxPositions, created });
    }
    for (const a of adapters) {
      const baseName = a.model ?? (models.length === 1 ? models[0]!.name : null);
      if (!baseName) throw new Error(`--adapter ${a.name}=${a.dir}: several models are served, so say which: MODEL:${a.name}=${a.dir}`);
      const base = reg.byId.get(baseName);
      if (!base) throw new Error(`--adapter ${a.name}: no served model is named '${baseName}'`);
      const id = `${baseName}:${a.name}`;
      if (reg.byId.has(id)) throw new Error(`--adapter: '${id}' is given twice`);
      // the same parameter map: the adapter's Transformer reads the base tensors in place
      const model = new Transformer(base.model.cfg, base.model.params);
      loadAdapter(a.dir, model);
      reg.add({ ...base, id, model });
    }
    return reg;
  }

  add(m: ServedModel): void { this.byId.set(m.id, m); }

  get(id: string): ServedModel | undefined { return this.byId.get(id); }

  all(): ServedModel[] { return [...this.byId.values()]; }
}
