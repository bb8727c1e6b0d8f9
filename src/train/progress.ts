// A progress display for long work: a bar with ETA, loss and tokens/s on a terminal (cli-progress),
// and a plain line every few seconds when output is not a terminal (logs, CI).
import cliProgress from 'cli-progress';

export interface ProgressValues { loss?: number; val?: number | null; tokS?: number }

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private lastLine = 0;
  private readonly t0 = Date.now();

  /** `names` relabels the two figures (an RL loop shows its score where training shows its loss). */
  constructor(private readonly label: string, private total: number, private readonly names = { loss: 'loss', val: 'val' }) {
    if (process.stderr.isTTY && !process.env.HEED_PLAIN_PROGRESS) {
      this.bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: `${label.padEnd(9)} {bar} {value}/{total} | ${names.loss} {loss} | ${names.val} {val} | {tokS} tok/s | ETA {eta_formatted}`,
        hideCursor: true, etaBuffer: 20,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(total, 1), 0, { loss: '-', val: '-', tokS: '-' });
    }
  }

  setTotal(total: number): void { this.total = total; this.bar?.setTotal(total); }

  update(step: number, v: ProgressValues = {}): void {
    const payload = { loss: v.loss?.toFixed(3) ?? '-', val: v.val != null ? v.val.toFixed(3) : '-', tokS: v.tokS ? Math.round(v.tokS) : '-' };
    if (this.bar) { this.bar.update(step, payload); return; }
    const now = Date.now();
    if (now - this.lastLine < 5000 && step !== this.total) return;
    this.lastLine = now;
    const el = (now - this.t0) / 1000, eta = step > 0 && this.total ? (el / step) * (this.total - step) : NaN;
    process.stderr.write(`${this.label}: ${step}/${this.total || '?'} ${this.names.loss} ${payload.loss} ${this.names.val} ${payload.val} ${payload.tokS} tok/s elapsed ${el.toFixed(0)}s ETA ${Number.isFinite(eta) ? eta.toFixed(0) + 's' : '?'}\n`);
  }

  stop(): void { this.bar?.stop(); }
}
