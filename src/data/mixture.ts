// The built-in FLAN-style instruction mixture: every task family rendered through its templates,
// split into train, held-out items of trained families, and whole held-out (zero-shot) families.
import type { Conversation, Message } from './formats.js';
import { hashUnit, Rng } from '../core/rng.js';
import { ALL_FAMILIES, DEFAULT_ZERO_SHOT } from './tasks/index.js';
import type { Metric, TaskFamily, TaskItem } from './tasks/common.js';
import { releaseSources } from './sources.js';

export interface Example {
  id: string;
  family: string;
  template: string;
  /** The item's split key ("lex:dog", "arith:3+4"): equal keys never cross the train/held-out line. */
  item: string;
  /** The prompt: an optional system turn and one user turn (no assistant turn). */
  messages: Message[];
  answer: string;
  /** Other answers that also count as right. */
  accept?: string[];
}

export interface FamilyInfo {
  name: string;
  description: string;
  source: string;
  metric: Metric;
  templates: string[];
  zeroShot: boolean;
  /** Items in the family's pool, and how many of them sit on each side of the split. */
  items: number;
  trainItems: number;
  heldoutItems: number;
  /** Examples emitted into each split. */
  train: number;
  heldout: number;
  zeroShotExamples: number;
}

export interface MixtureOptions {
  seed: number;
  trainPerFamily: number;
  evalPerFamily: number;
  /** Families kept out of training for zero-shot evaluation (default: lowercase, last_letter, list_first). */
  heldoutFamilies?: readonly string[];
  /** Restrict the mixture to these families (default: all). */
  families?: readonly string[];
  /** Share of each family's items reserved for held-out evaluation (default 0.2). */
  heldoutFraction?: number;
}

/**
 * heldout: test examples of held-out items (for evaluation); validation: examples of other held-out
 * items (for choosing checkpoints), so model selection never sees the test items.
 */
export interface Mixture { train: Example[]; validation: Example[]; heldout: Example[]; zeroShot: Example[]; families: FamilyInfo[] }

const pools = new Map<string, Array<TaskItem<unknown>>>();

/** Forgets the parsed sources and item pools (see releaseSources); the next build parses again. */
export function releaseDataCaches(): void { pools.clear(); releaseSources(); }
function poolOf(f: TaskFamily): Array<TaskItem<unknown>> {
  let p = pools.get(f.name);
  if (!p) pools.set(f.name, (p = f.items()));
  return p;
}

export function familyNames(): string[] {
  return ALL_FAMILIES.map((f) => f.name);
}

function render(f: TaskFamily, item: TaskItem<unknown>, rng: Rng, id: string): Example {
  const t = rng.pick(f.templates);
  const p = t.render(item.input);
  const messages: Message[] = [];
  if (p.system !== undefined) messages.push({ role: 'system', content: p.system });
  messages.push({ role: 'user', content: p.user });
  const ex: Example = { id, family: f.name, template: t.id, item: item.key, messages, answer: item.answer };
  if (item.accept && item.accept.length > 0) ex.accept = item.accept;
  return ex;
}

export function buildMixture(opts: MixtureOptions): Mixture {
  const { seed, trainPerFamily, evalPerFamily } = opts;
  const fraction = opts.heldoutFraction ?? 0.2;
  const known = new Set(familyNames());
  const zeroShotNames = new Set(opts.heldoutFamilies ?? DEFAULT_ZERO_SHOT);
  for (const n of [...zeroShotNames, ...(opts.families ?? [])]) {
    if (!known.has(n)) throw new Error(`unknown task family "${n}" (known: ${[...known].join(', ')})`);
  }
  const selected = opts.families ? new Set(opts.families) : known;

  const train: Example[] = [];
  const heldout: Example[] = [];
  const validation: Example[] = [];
  const zeroShot: Example[] = [];
  const families: FamilyInfo[] = [];
  for (const f of ALL_FAMILIES) {
    if (!selected.has(f.name)) continue;
    const pool = poolOf(f);
    const isZero = zeroShotNames.has(f.name);
    // Hash-based split on the item key alone, so families sharing a key namespace ("lex:", "word:",
    // "country:") agree on which items are held out and no fact leaks across them.
    const trainPool: Array<TaskItem<unknown>> = [];
    const heldPool: Array<TaskItem<unknown>> = [];
    for (const it of pool) (hashUnit(`${seed}:split:${it.key}`) < fraction ? heldPool : trainPool).push(it);
    const rng = Rng.keyed(`${seed}:${f.name}`);
    const info: FamilyInfo = {
      name: f.name, description: f.description, source: f.source, metric: f.metric,
      templates: f.templates.map((t) => t.id), zeroShot: isZero,
      items: pool.length, trainItems: isZero ? 0 : trainPool.length, heldoutItems: isZero ? pool.length : heldPool.length,
      train: 0, heldout: 0, zeroShotExamples: 0,
    };
    if (isZero) {
      for (const it of rng.sample(pool, evalPerFamily)) zeroShot.push(render(f, it, rng, `zeroshot/${f.name}/${info.zeroShotExamples++}`));
    } else {
      // Walk the shuffled train pool in passes so every item appears before any repeats.
      let order: Array<TaskItem<unknown>> = [];
      for (let i = 0; i < trainPerFamily && trainPool.length > 0; i++) {
        if (order.length === 0) order = rng.shuffled(trainPool);
        train.push(render(f, order.pop() as TaskItem<unknown>, rng, `train/${f.name}/${info.train++}`));
      }
      // held-out items split again by key: test items for evaluation, the others for validation,
      // each sampled from its own seeded stream so neither depends on trainPerFamily
      const testPool = heldPool.filter((it) => hashUnit(`${seed}:valtest:${it.key}`) >= 0.5);
      const valPool = heldPool.filter((it) => hashUnit(`${seed}:valtest:${it.key}`) < 0.5);
      const trng = Rng.keyed(`${seed}:${f.name}:test`), vrng = Rng.keyed(`${seed}:${f.name}:val`);
      for (const it of trng.sample(testPool, evalPerFamily)) heldout.push(render(f, it, trng, `heldout/${f.name}/${info.heldout++}`));
      let nv = 0;
      for (const it of vrng.sample(valPool, evalPerFamily)) validation.push(render(f, it, vrng, `validation/${f.name}/${nv++}`));
    }
    families.push(info);
  }
  return { train: Rng.keyed(`${seed}:order`).shuffled(train), validation, heldout, zeroShot, families };
}

/** The example as a training conversation: its prompt followed by the answer as assistant turn. */
export function toConversation(ex: Example): Conversation {
  return { messages: [...ex.messages, { role: 'assistant', content: ex.answer }] };
}
