// `heed serve`: the OpenAI-compatible server with its chat page, runs dashboard and (with --db) the
// ranking page. SIGTERM and SIGINT stop new requests, let in-flight ones finish, then exit.
import type { Command } from 'commander';
import { ModelRegistry, parseAdapterSpec, parseModelSpec } from '../../serve/models.js';
import { listen } from '../../serve/app.js';
import { FeedbackStore } from '../../feedback/store.js';
import { DECODE_WEIGHTS, WEIGHTS_HELP, type DecodeWeights } from '../../models/stored.js';
import { guard, int, oneOf } from '../util.js';

interface ServeFlags {
  model: string[]; adapter: string[]; port: number; host: string; apiKey?: string; db?: string; runs: string;
  parallel: number; queue: number; maxBody: number; weights: DecodeWeights;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve models over the OpenAI API, with a chat page (/), a runs dashboard (/runs) and, with --db, the ranking page (/rank)')
    .requiredOption('--model <[name=]dir>', 'a model folder to serve (repeat for more); named after its folder unless NAME= is given', collect, [])
    .option('--adapter <[model:]name=dir>', 'a PEFT adapter, served as MODEL:NAME (repeat for more)', collect, [])
    .option('--port <n>', 'port (0 = any free one)', int('--port', 0, 65535), 8080)
    .option('--host <addr>', 'address to bind (the default keeps it to this machine)', '127.0.0.1')
    .option('--api-key <key>', 'require "Authorization: Bearer KEY" on /v1 and /api (the OpenAI, ranking and runs APIs; or set HEED_API_KEY)')
    .option('--db <file>', 'feedback store (SQLite) for the ranking page')
    .option('--runs <dir>', 'folder of run folders for the dashboard', 'runs')
    .option('--parallel <n>', 'sequences generated at once (one batch per model)', int('--parallel', 1), 16)
    .option('--queue <n>', 'sequences that may wait beyond those; more get 429', int('--queue', 0), 64)
    .option('--max-body <bytes>', 'largest request body; larger ones get 413', int('--max-body', 1024), 1024 * 1024)
    .option('--weights <type>', `how the linear layers are held while serving: ${DECODE_WEIGHTS.join(' | ')} (${WEIGHTS_HELP})`, oneOf('--weights', DECODE_WEIGHTS), 'f32')
    .addHelpText('after', '\nExample:\n  heed serve --model runs/demo/sft/best --adapter lora=runs/lora/best --port 8080\n  heed serve --model runs/demo/dpo/final --weights q8_0\n  curl localhost:8080/v1/chat/completions -d \'{"model":"best","messages":[{"role":"user","content":"Hi"}]}\'')
    .action((o: ServeFlags) => guard(async () => {
      const apiKey = o.apiKey ?? process.env.HEED_API_KEY;
      const reg = ModelRegistry.load(o.model.map(parseModelSpec), o.adapter.map(parseAdapterSpec), o.weights);
      const store = o.db ? FeedbackStore.open(o.db) : undefined;
      const s = await listen(reg, {
        port: o.port, host: o.host, runsRoot: o.runs, parallel: o.parallel, queue: o.queue, maxBody: o.maxBody,
        ...(apiKey ? { apiKey } : {}), ...(store ? { store } : {}),
      });
      process.stdout.write(`heed serve: ${s.url} (models: ${reg.all().map((m) => m.id).join(', ')}${o.weights !== 'f32' ? `; weights ${o.weights}` : ''})\n`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          process.stdout.write(`heed serve: ${sig}: finishing ${s.scheduler.running + s.scheduler.queued} sequences in flight, then exiting\n`);
          s.close().then(() => { store?.close(); resolve(); });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    }));
}
