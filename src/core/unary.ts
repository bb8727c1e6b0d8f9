// Elementwise functions for the unary ops: the forward f(x) and the derivative from x and y = f(x).

export const UNARY = {
  exp: { f: (x: number) => Math.exp(x), df: (_x: number, y: number) => y },
  log: { f: (x: number) => Math.log(x), df: (x: number) => 1 / x },
  sigmoid: { f: (x: number) => 1 / (1 + Math.exp(-x)), df: (_x: number, y: number) => y * (1 - y) },
  // log σ(x) = −softplus(−x), computed stably for large |x|.
  logsigmoid: { f: (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x))), df: (x: number) => 1 / (1 + Math.exp(x)) },
  tanh: { f: (x: number) => Math.tanh(x), df: (_x: number, y: number) => 1 - y * y },
  relu: { f: (x: number) => (x > 0 ? x : 0), df: (x: number) => (x > 0 ? 1 : 0) },
  silu: { f: (x: number) => x / (1 + Math.exp(-x)), df: (x: number) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 + x * (1 - s)); } },
  square: { f: (x: number) => x * x, df: (x: number) => 2 * x },
  sqrt: { f: (x: number) => Math.sqrt(x), df: (_x: number, y: number) => 0.5 / y },
  abs: { f: (x: number) => Math.abs(x), df: (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0) },
} as const;
export type UnaryKind = keyof typeof UNARY;
