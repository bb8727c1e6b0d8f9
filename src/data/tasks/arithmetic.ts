// Arithmetic on small numbers, generated: the answer follows from the prompt alone, so even a
// tiny model can learn it during SFT.
import { block, family, inline, system, type TaskItem } from './common.js';

type Op = { a: number; b: number };

function pairs(maxA: number, maxB: number, keep: (a: number, b: number) => boolean, f: (a: number, b: number) => number, sym: string): Array<TaskItem<Op>> {
  const out: Array<TaskItem<Op>> = [];
  for (let a = 0; a <= maxA; a++) for (let b = 0; b <= maxB; b++) if (keep(a, b)) out.push({ key: `arith:${a}${sym}${b}`, input: { a, b }, answer: String(f(a, b)) });
  return out;
}

export const add = family<Op>({
  name: 'add',
  description: 'Add two numbers from 0 to 20.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('what_is', (x) => `What is ${x.a} + ${x.b}?`),
    inline('plus', (x) => `Compute ${x.a} plus ${x.b}.`),
    block('block', 'Add these two numbers.', (x) => `${x.a} and ${x.b}`),
    system('system', 'You are a calculator. Reply with the number only.', (x) => `${x.a} + ${x.b} =`),
  ],
  items: () => pairs(20, 20, () => true, (a, b) => a + b, '+'),
});

export const subtract = family<Op>({
  name: 'subtract',
  description: 'Subtract a smaller number from a larger one, both from 0 to 20.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('what_is', (x) => `What is ${x.a} - ${x.b}?`),
    inline('minus', (x) => `Compute ${x.a} minus ${x.b}.`),
    block('block', 'Subtract the second number from the first.', (x) => `${x.a} and ${x.b}`),
    system('system', 'You are a calculator. Reply with the number only.', (x) => `${x.a} - ${x.b} =`),
  ],
  items: () => pairs(20, 20, (a, b) => b <= a, (a, b) => a - b, '-'),
});

export const multiply = family<Op>({
  name: 'multiply',
  description: 'Multiply two numbers from 0 to 12.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('what_is', (x) => `What is ${x.a} * ${x.b}?`),
    inline('times', (x) => `Compute ${x.a} times ${x.b}.`),
    block('block', 'Multiply these two numbers.', (x) => `${x.a} and ${x.b}`),
    system('system', 'You are a calculator. Reply with the number only.', (x) => `${x.a} x ${x.b} =`),
  ],
  items: () => pairs(12, 12, () => true, (a, b) => a * b, '*'),
});

export const ARITHMETIC_FAMILIES = [add, subtract, multiply];
