// The tape: ops record a Node on their output; backward() walks the graph in reverse topological
// order and applies each op's rule from the one gradient table (grad.ts). Gradients are plain
// Float32Arrays while flowing and land in `.grad` only on leaves that require them.
import { Tensor, shapeStr, type Node } from './tensor.js';
import { gradRules } from './grad.js';
import { K } from './kernels.js';

let gradEnabled = true;

export function isGradEnabled(): boolean { return gradEnabled; }

/**
 * Runs fn without recording the tape (inference, optimizer steps, evaluation). Synchronous on
 * purpose: a flag held across an await would leak into whatever else runs meanwhile, so async work
 * (the server's generation loop) calls this around each synchronous step instead.
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try { return fn(); } finally { gradEnabled = prev; }
}

/** Records `op` on `out` when grad is on and any input requires grad. Returns out. */
export function record(out: Tensor, op: string, inputs: Tensor[], saved: Record<string, unknown>): Tensor {
  if (!gradEnabled) return out;
  let any = false;
  for (const t of inputs) if (t.requiresGrad) { any = true; break; }
  if (!any) return out;
  if (!(op in gradRules)) throw new Error(`heed: no gradient rule for op '${op}'`);
  out.requiresGrad = true;
  out.node = { op, inputs, saved, freed: false };
  return out;
}

function topo(root: Tensor): Tensor[] {
  const order: Tensor[] = [], seen = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const c = inputs[i]!;
      if (c.requiresGrad && !seen.has(c)) { seen.add(c); stack.push([c, 0]); }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

export interface BackwardOptions { retainGraph?: boolean }

/**
 * Backpropagates from `root`. A scalar root gets gradient 1; otherwise pass `grad` (same shape).
 * Leaf gradients accumulate into `.grad` (so several backward calls accumulate, as in PyTorch).
 */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error('heed: backward() on a tensor that does not require grad (was it computed under noGrad, or from no trainable parameter?)');
  let g0: Float32Array;
  if (grad) {
    if (grad.size !== root.size) throw new Error(`heed: backward() grad shape ${shapeStr(grad.shape)} does not match ${shapeStr(root.shape)}`);
    g0 = grad.f32.slice();
  } else {
    if (root.size !== 1) throw new Error(`heed: backward() without a grad needs a scalar, got shape ${shapeStr(root.shape)}`);
    g0 = new Float32Array([1]);
  }
  const order = topo(root);
  const grads = new Map<Tensor, Float32Array>([[root, g0]]);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const g = grads.get(t);
    if (!g) continue;
    const node: Node | null = t.node;
    if (!node) { accumulateLeaf(t, g); grads.delete(t); continue; }
    if (node.freed) throw new Error(`heed: backward through a graph that was already freed (op '${node.op}'); pass { retainGraph: true } to the first backward() to go through it twice`);
    const gin = gradRules[node.op]!(node, g, t);
    grads.delete(t);
    for (let j = 0; j < node.inputs.length; j++) {
      const x = node.inputs[j]!, gx = gin[j];
      if (!gx || !x.requiresGrad) continue;
      if (gx.length !== x.size) throw new Error(`heed: gradient of '${node.op}' input ${j} has ${gx.length} elements, expected ${x.size}`);
      const prev = grads.get(x);
      if (prev) K().axpy(1, gx, prev, prev.length);
      else grads.set(x, gx);
    }
    if (!opts.retainGraph) { node.saved = null; node.freed = true; }
  }
}

function accumulateLeaf(t: Tensor, g: Float32Array): void {
  if (t.grad) K().axpy(1, g, t.grad.f32, g.length);
  else t.grad = new Tensor(g, t.shape, 'f32');
}
