// The serving benchmark (loopback only, bounded): `npm run bench -- serve`. The server runs in its
// own process (bench/serve-run.ts); this one is the clients, streaming over HTTP with fetch.
//   load:     32 concurrent streaming chat clients, 500 requests on the tiny preset: errors, p50/p99
//             time to first token, aggregate tokens/s.
//   batching: the gpt2 preset, every request the same number of tokens (EOS ignored): one client
//             alone, then 16 at once, in the same run; continuous batching should give ≥ 3×.
// Prints one JSON object per mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { flag } from './common.js';

const mode = flag('mode', 'all');
if (!['all', 'load', 'batching'].includes(mode)) throw new Error(`--mode ${mode}: choose all, load or batching`);

interface Server { url: string; proc: ChildProcess }

async function startServer(config: string, parallel: number): Promise<Server> {
  // measured on the native kernels or not at all
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/serve-run.ts', '--config', config, '--parallel', String(parallel), '--queue', '512'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HEED_REQUIRE_NATIVE: '1' } });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => { if (l.startsWith('{')) resolve((JSON.parse(l) as { url: string }).url); });
    proc.once('exit', (code) => reject(new Error(`the benchmark server exited (${code}) before listening`)));
  });
  return { url, proc };
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  await exited;
}

interface Outcome { ok: boolean; error?: string; ttftMs: number; ms: number; tokens: number }

/** One streaming request: time to the first piece of text, completion tokens from the usage chunk. */
async function streamOnce(url: string, path: string, body: object): Promise<Outcome> {
  const t0 = performance.now();
  let ttft = NaN, tokens = 0, done = false;
  try {
    const res = await fetch(url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}: ${await res.text()}`, ttftMs: NaN, ms: performance.now() - t0, tokens: 0 };
    const reader = res.body!.getReader(), dec = new TextDecoder();
    let buf = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      buf += dec.decode(r.value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const data = buf.slice(0, cut).replace(/^data: /, '');
        buf = buf.slice(cut + 2);
        if (data === '[DONE]') { done = true; continue; }
        const chunk = JSON.parse(data) as { error?: { message: string }; usage?: { completion_tokens: number } | null; choices: Array<{ text?: string; delta?: { content?: string } }> };
        if (chunk.error) return { ok: false, error: chunk.error.message, ttftMs: NaN, ms: performance.now() - t0, tokens };
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
        const c = chunk.choices[0];
        if (Number.isNaN(ttft) && (c?.text || c?.delta?.content)) ttft = performance.now() - t0;
      }
    }
  } catch (e) {
    return { ok: false, error: String(e), ttftMs: NaN, ms: performance.now() - t0, tokens };
  }
  return { ok: done && tokens > 0, ...(done ? {} : { error: 'no [DONE]' }), ttftMs: ttft, ms: performance.now() - t0, tokens };
}

/** `clients` workers issue `requests` requests in all; aggregate tokens/s over the wall time. */
async function drive(clients: number, requests: number, one: () => Promise<Outcome>) {
  const outcomes: Outcome[] = [];
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (issued < requests) { issued++; outcomes.push(await one()); }
  }));
  const secs = (performance.now() - t0) / 1000, good = outcomes.filter((o) => o.ok);
  const ttft = good.map((o) => o.ttftMs).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const q = (p: number) => Math.round(ttft[Math.min(ttft.length - 1, Math.floor(p * ttft.length))]! * 10) / 10;
  const tokens = good.reduce((a, o) => a + o.tokens, 0);
  return {
    clients, requests: outcomes.length, errors: outcomes.length - good.length, tokens, seconds: Math.round(secs * 100) / 100,
    tokens_per_s: Math.round((tokens / secs) * 10) / 10, ttft_ms_p50: q(0.5), ttft_ms_p99: q(0.99),
    ...(good.length < outcomes.length ? { first_error: outcomes.find((o) => !o.ok)!.error } : {}),
  };
}

if (mode === 'all' || mode === 'load') {
  const config = flag('config', 'tiny'), clients = Number(flag('clients', '32')), requests = Number(flag('requests', '500'));
  const maxTokens = Number(flag('max-tokens', '32')), parallel = Number(flag('parallel', '32'));
  const s = await startServer(config, parallel);
  try {
    const ask = () => streamOnce(s.url, '/v1/chat/completions', { model: config, messages: [{ role: 'user', content: 'Tell me about the white whale.' }], max_tokens: maxTokens, temperature: 1, ignore_eos: true });
    await drive(4, 8, ask); // warm-up: JIT and KV-cache slots
    console.log(JSON.stringify({ bench: 'serve-load', config, parallel, max_tokens: maxTokens, ...(await drive(clients, requests, ask)) }));
  } finally { await stopServer(s); }
}

if (mode === 'all' || mode === 'batching') {
  const config = flag('batch-config', 'gpt2'), many = Number(flag('batch-clients', '16')), perClient = Number(flag('batch-requests', '2'));
  const maxTokens = Number(flag('batch-tokens', '64'));
  const s = await startServer(config, many);
  try {
    const ask = () => streamOnce(s.url, '/v1/completions', { model: config, prompt: 'It was the best of times, it was the worst of times, it was the age of wisdom', max_tokens: maxTokens, temperature: 1, ignore_eos: true });
    await drive(2, 2, ask); // warm-up
    const alone = await drive(1, Math.max(2, perClient), ask);
    const batched = await drive(many, many * perClient, ask);
    console.log(JSON.stringify({
      bench: 'serve-batching', config, max_tokens: maxTokens, one_client: alone, [`${many}_clients`]: batched,
      speedup: Math.round((batched.tokens_per_s / alone.tokens_per_s) * 100) / 100,
    }));
  } finally { await stopServer(s); }
}
