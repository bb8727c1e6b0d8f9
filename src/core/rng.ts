// Seeded random numbers, one class for the whole library. Same seed, same numbers, on every
// machine; the state is a few integers, so checkpoints save and restore it exactly.
// Two generators sit behind it: sfc32 (training, sampling: `new Rng(seed)`) and mulberry32 keyed
// by a string (the data pipeline: `Rng.keyed(name)`, so that every split and sample in src/data
// derives from (seed, name) and adding a task family never reshuffles the others).

/** FNV-1a 32-bit over UTF-16 code units; stable across runs and platforms. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A uniform number in [0, 1) determined by the string alone (used for hash-based splits). */
export function hashUnit(s: string): number {
  // One extra avalanche round: FNV's low bits are weak for short keys that differ in one char.
  let h = hash32(s);
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export interface RngState { kind?: 'sfc32' | 'mulberry32'; s: [number, number, number, number]; spare: number | null }

export class Rng {
  private a = 0; private b = 0; private c = 0; private d = 0;
  private spare: number | null = null;
  private kind: 'sfc32' | 'mulberry32' = 'sfc32';

  constructor(seed = 0) {
    // splitmix32 spreads a small integer seed over the 128-bit state.
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** mulberry32 seeded by a number or by the FNV-1a hash of a string: the data pipeline's generator. */
  static keyed(seed: number | string): Rng {
    const r = new Rng(0);
    r.kind = 'mulberry32';
    r.a = typeof seed === 'number' ? seed >>> 0 : hash32(seed);
    return r;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    if (this.kind === 'mulberry32') {
      let t = (this.a = (this.a + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    }
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  uniform(): number { return this.u32() / 4294967296; }

  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.uniform() * n); }

  /** Integer in [lo, hi], both included. */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }

  /** Standard normal. */
  normal(): number {
    if (this.spare !== null) { const s = this.spare; this.spare = null; return s; }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform(), r = Math.sqrt(-2 * Math.log(u)), th = 2 * Math.PI * v;
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }

  /** One element, uniformly. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('Rng.pick: empty array');
    return xs[this.int(xs.length)] as T;
  }

  /** Fisher–Yates shuffle in place; returns xs. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i]!; xs[i] = xs[j]!; xs[j] = t;
    }
    return xs;
  }

  /** A shuffled copy (xs is left as it is). */
  shuffled<T>(xs: readonly T[]): T[] { return this.shuffle(xs.slice()); }

  /** k distinct elements (k clipped to xs.length), in shuffled order. */
  sample<T>(xs: readonly T[], k: number): T[] { return this.shuffled(xs).slice(0, Math.min(k, xs.length)); }

  getState(): RngState { return { kind: this.kind, s: [this.a, this.b, this.c, this.d], spare: this.spare }; }
  setState(st: RngState): void { this.kind = st.kind ?? 'sfc32'; [this.a, this.b, this.c, this.d] = st.s; this.spare = st.spare; }
}
