// An almanac for pretraining: the facts of countries-list (capital, continent, currency code) and
// of the US state capitals dataset, written out as short prose entries.
//
// A small model stores a fact it reads in one fixed sentence, but can only recall it through a
// question when it has read the fact worded in many ways (Allen-Zhu & Li, "Physics of Language
// Models 3.1"). So every entity is written `variants` times, each time with its own wording and
// sentence order, and the copies go into different documents.
import { Rng } from '../core/rng.js';
import { loadCountries, loadStateCapitals } from './sources.js';

type Say = (name: string, value: string) => string;

const possessive = (s: string) => (s.endsWith('s') ? `${s}'` : `${s}'s`);

const CAPITAL: Say[] = [
  (x, c) => `The capital of ${x} is ${c}.`,
  (x, c) => `${c} is the capital of ${x}.`,
  (x, c) => `${possessive(x)} capital city is ${c}.`,
  (x, c) => `The government of ${x} sits in ${c}, its capital.`,
  (x, c) => `The capital city of ${x} is ${c}.`,
  (x, c) => `${x} has ${c} as its capital.`,
  (x, c) => `In ${x}, the capital is ${c}.`,
];

const CONTINENT: Say[] = [
  (x, k) => `${x} is a country in ${k}.`,
  (x, k) => `${x} lies in ${k}.`,
  (x, k) => `${x} is located in ${k}.`,
  (x, k) => `${x} is on the continent of ${k}.`,
  (x, k) => `The continent of ${x} is ${k}.`,
  (x, k) => `${k} is the continent where ${x} lies.`,
];

const CURRENCY: Say[] = [
  (x, y) => `The currency of ${x} has the code ${y}.`,
  (x, y) => `${x} uses the currency with the ISO code ${y}.`,
  (x, y) => `In ${x}, prices are given in ${y}.`,
  (x, y) => `The ISO 4217 code of ${possessive(x)} currency is ${y}.`,
  (x, y) => `The currency code of ${x} is ${y}.`,
  (x, y) => `${y} is the code of the money used in ${x}.`,
];

const STATE_CAPITAL: Say[] = [
  (s, c) => `The capital of the state of ${s} is ${c}.`,
  (s, c) => `${c} is the capital of ${s}, a state of the United States.`,
  (s, c) => `${s} is a US state whose capital city is ${c}.`,
  (s, c) => `The US state of ${s} has its capital in ${c}.`,
  (s, c) => `The state government of ${s} sits in ${c}.`,
  (s, c) => `In the state of ${s}, the capital is ${c}.`,
];

/** One entity: a name and the facts to state about it. */
interface Entity { name: string; facts: Array<[Say[], string]> }

function entities(): Entity[] {
  const out: Entity[] = [];
  for (const c of loadCountries()) {
    const facts: Array<[Say[], string]> = [];
    if (c.capital !== '') facts.push([CAPITAL, c.capital]);
    if (c.continent !== '') facts.push([CONTINENT, c.continent]);
    if (/^[A-Z]{3}$/.test(c.currency)) facts.push([CURRENCY, c.currency]);
    if (facts.length > 0) out.push({ name: c.name, facts });
  }
  for (const s of loadStateCapitals()) out.push({ name: s.state, facts: [[STATE_CAPITAL, s.capital]] });
  return out;
}

/** One entry: the entity's facts, each in a wording and in an order drawn from `rng`. */
export function almanacEntry(e: Entity, rng: Rng): string {
  return rng.shuffled(e.facts).map(([says, v]) => rng.pick(says)(e.name, v)).join(' ');
}

/**
 * `variants` passes over all entities; each pass shuffles them into documents of `perDoc`
 * entries (one per line), so no document holds the same entity twice.
 */
export function almanacDocs(variants: number, seed: number, perDoc = 24): Array<{ id: string; paras: string[] }> {
  const all = entities();
  const docs: Array<{ id: string; paras: string[] }> = [];
  for (let v = 0; v < variants; v++) {
    const rng = Rng.keyed(`${seed}:almanac:${v}`);
    const order = rng.shuffled(all);
    for (let i = 0; i < order.length; i += perDoc) {
      docs.push({ id: `almanac/${v}/${i / perDoc}`, paras: order.slice(i, i + perDoc).map((e) => almanacEntry(e, rng)) });
    }
  }
  return docs;
}
