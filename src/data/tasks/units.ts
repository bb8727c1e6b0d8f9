// Unit conversions computed with convert-units on small whole quantities, so answers stay short
// (at most two decimals).
import { createRequire } from 'node:module';
import { block, family, formatNumber, inline, system, type TaskItem } from './common.js';

// convert-units ships no types; this is the slice of its API used here.
type Convert = (v?: number) => {
  from(u: string): { to(u: string): number };
  describe(u: string): { singular: string; plural: string };
};
const convert = createRequire(import.meta.url)('convert-units') as Convert;

type Q = { value: number; from: string; to: string };

/** [from, to, values]: pairs whose results are whole or short decimals for the chosen values. */
const PAIRS: Array<[string, string, number[]]> = [
  ['km', 'm', range(1, 20)], ['m', 'cm', range(1, 20)], ['cm', 'mm', range(1, 30)], ['m', 'mm', range(1, 10)],
  ['kg', 'g', range(1, 20)], ['g', 'mg', range(1, 10)], ['l', 'ml', range(1, 20)],
  ['h', 'min', range(1, 24)], ['min', 's', range(1, 30)], ['d', 'h', range(1, 14)], ['week', 'd', range(1, 20)],
  ['ft', 'in', range(1, 20)], ['yd', 'ft', range(1, 20)], ['lb', 'oz', range(1, 20)], ['gal', 'qt', range(1, 20)],
  ['m', 'km', range(1, 20).map((x) => x * 500)], ['g', 'kg', range(1, 20).map((x) => x * 250)], ['min', 'h', range(1, 20).map((x) => x * 30)],
  ['in', 'ft', range(1, 20).map((x) => x * 6)], ['C', 'F', range(0, 20).map((x) => x * 5)], ['mi', 'km', range(1, 20)],
];

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

function unitName(u: string, value: number): string {
  const d = convert().describe(u);
  const name = value === 1 ? d.singular : d.plural;
  return name.startsWith('degree') ? name : name.toLowerCase();
}
const plural = (u: string) => unitName(u, 2);
const qty = (x: Q) => `${x.value} ${unitName(x.from, x.value)}`;

export const unitConvert = family<Q>({
  name: 'unit_convert',
  description: 'Convert a quantity between units (length, mass, volume, time, temperature).',
  source: 'convert-units',
  metric: 'normalized',
  templates: [
    inline('how_many', (x) => `How many ${plural(x.to)} are in ${qty(x)}?`),
    inline('convert', (x) => `Convert ${qty(x)} to ${plural(x.to)}. Answer with a number.`),
    block('block', 'Convert the quantity below. Reply with the number only.', (x) => `${qty(x)} = ? ${plural(x.to)}`),
    system('system', 'You convert units. Reply with the number only, rounded to two decimals at most.', (x) => `${qty(x)} in ${plural(x.to)}`),
  ],
  items: () => {
    const out: Array<TaskItem<Q>> = [];
    for (const [from, to, values] of PAIRS) {
      for (const value of values) {
        out.push({ key: `unit:${value} ${from}>${to}`, input: { value, from, to }, answer: formatNumber(convert(value).from(from).to(to)) });
      }
    }
    return out;
  },
});

export const UNIT_FAMILIES = [unitConvert];
