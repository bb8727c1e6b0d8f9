// Runs the generators of every served model from one loop: a bounded queue of waiting sequences, a
// limit on how many run at once, one generator step per model per turn, and a yield to the event
// loop between turns so that requests arrive, tokens stream out and disconnects cancel meanwhile.
import { Generator, type Sequence, type SequenceOptions, type TokenEvent } from '../models/generate.js';
import type { ServedModel } from './models.js';

export class QueueFullError extends Error {}
export class ShuttingDownError extends Error {}
export class CancelledError extends Error {}

export interface SchedulerOptions {
  /** sequences generating at once, over all models */
  parallel: number;
  /** sequences that may wait for a place; beyond it a request is refused */
  queue: number;
}

interface Job {
  engine: Engine;
  seqs: Array<Sequence | null>;
  left: number;
  onEvent: (index: number, e: TokenEvent) => void;
  resolve: (s: Sequence[]) => void;
  reject: (e: Error) => void;
}

interface Waiting { job: Job; index: number; prompt: number[]; opts: SequenceOptions }

/** One served model's generator (rebuilt if a step ever throws, so one bad step cannot wedge it). */
class Engine {
  gen: Generator;
  constructor(readonly served: ServedModel, private readonly slots: number) { this.gen = this.fresh(); }
  fresh(): Generator {
    const tok = this.served.tok.tokenizer;
    return new Generator(this.served.model, {
      slots: this.slots, maxLength: this.served.contextLength, vocabLimit: tok.vocabSize,
      decoder: () => tok.streamDecoder({ skipSpecialTokens: true }),
    });
  }
}

export class Scheduler {
  private readonly engines = new Map<string, Engine>();
  private readonly waiting: Waiting[] = [];
  private readonly owner = new Map<Sequence, { job: Job; index: number }>();
  private looping = false;
  private draining = false;
  private idleWaiters: Array<() => void> = [];
  /** sequences that ran to their end, and sequences cancelled (client gone, or a failed step) */
  readonly counts = { finished: 0, cancelled: 0 };

  constructor(readonly o: SchedulerOptions) {
    if (!(o.parallel >= 1) || !(o.queue >= 0)) throw new Error(`heed: the scheduler needs parallel ≥ 1 and queue ≥ 0, got ${o.parallel} and ${o.queue}`);
  }

  /** Sequences generating now. */
  get running(): number { let n = 0; for (const e of this.engines.values()) n += e.gen.active + e.gen.queued; return n; }
  get queued(): number { return this.waiting.length; }
  get busy(): boolean { return this.waiting.length > 0 || this.running > 0; }

  /**
   * Generates one sequence per entry of `opts` from the same prompt (OpenAI's `n`). Events arrive
   * through onEvent as they are sampled; the promise settles when every sequence has finished, or
   * rejects when the signal aborts (the sequences are cancelled and their slots freed at once).
   * A refusal (queue full, shutting down) throws at once, before anything is queued, so a server
   * can still answer with an error status before it starts streaming.
   */
  generate(served: ServedModel, prompt: number[], opts: SequenceOptions[], onEvent: (index: number, e: TokenEvent) => void, signal?: AbortSignal): Promise<Sequence[]> {
    if (this.draining) throw new ShuttingDownError('the server is shutting down');
    if (this.waiting.length + opts.length > this.o.queue + Math.max(0, this.o.parallel - this.running))
      throw new QueueFullError(`the queue is full (${this.running} generating, ${this.waiting.length} waiting)`);
    if (signal?.aborted) return Promise.reject(new CancelledError('the client went away'));
    const engine = this.engineFor(served);
    return new Promise<Sequence[]>((resolve, reject) => {
      const job: Job = { engine, seqs: opts.map(() => null), left: opts.length, onEvent, resolve, reject };
      opts.forEach((o, index) => this.waiting.push({ job, index, prompt, opts: o }));
      signal?.addEventListener('abort', () => this.cancel(job, new CancelledError('the client went away')), { once: true });
      this.kick();
    });
  }

  /** Refuses new work and resolves once everything in flight has finished. */
  drain(): Promise<void> {
    this.draining = true;
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private engineFor(served: ServedModel): Engine {
    let e = this.engines.get(served.id);
    if (!e) this.engines.set(served.id, (e = new Engine(served, this.o.parallel)));
    return e;
  }

  private cancel(job: Job, why: Error): void {
    if (job.left === 0) return;
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!.job === job) this.waiting.splice(i, 1);
    for (const s of job.seqs) if (s && !s.done) { job.engine.gen.cancel(s); this.owner.delete(s); this.counts.cancelled++; }
    for (const w of job.seqs) if (!w) this.counts.cancelled++;
    job.left = 0;
    job.reject(why);
    this.settleIdle();
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    while (this.busy) {
      this.admit();
      for (const e of this.engines.values()) if (!e.gen.idle) this.step(e);
      // tokens go out, requests come in, disconnects cancel: all between two steps
      await new Promise((r) => setImmediate(r));
    }
    this.looping = false;
    this.settleIdle();
  }

  /** Moves waiting sequences into their generators while fewer than `parallel` run. */
  private admit(): void {
    let room = this.o.parallel - this.running;
    while (room > 0 && this.waiting.length) {
      const w = this.waiting.shift()!;
      let s: Sequence;
      // requests are checked before they queue; should one still be refused, only it fails
      try { s = w.job.engine.gen.add(w.prompt, w.opts); } catch (err) { this.cancel(w.job, err as Error); continue; }
      w.job.seqs[w.index] = s;
      this.owner.set(s, { job: w.job, index: w.index });
      room--;
    }
  }

  private step(e: Engine): void {
    let events: TokenEvent[];
    try { events = e.gen.step(); } catch (err) {
      for (const { job } of [...this.owner.values()]) if (job.engine === e) this.cancel(job, err as Error);
      e.gen = e.fresh();
      return;
    }
    for (const ev of events) {
      const own = this.owner.get(ev.seq);
      if (!own) continue;
      const { job, index } = own;
      try { job.onEvent(index, ev); } catch (err) { this.cancel(job, err as Error); continue; }
      if (!ev.finish) continue;
      this.owner.delete(ev.seq);
      this.counts.finished++;
      if (--job.left === 0) job.resolve(job.seqs as Sequence[]);
    }
  }

  private settleIdle(): void {
    if (this.busy) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }
}
