// `heed generate`, `heed chat` and `heed logprobs`: run a model folder (plus an optional adapter).
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { loadModel, type LoadedModel } from '../../models/load.js';
import { Generator } from '../../models/generate.js';
import { checkSampling, type Sampling } from '../../models/sampling.js';
import { renderPrompt, stopTokenIds, type ChatMessage } from '../../tokenizer/index.js';
import { scoredBatch, tokenLogprobs } from '../../models/logprobs.js';
import { float, guard, int, oneOf } from '../util.js';
import { checkAdaptersFit, DECODE_WEIGHTS, WEIGHTS_HELP, storeWeightsSaying, type DecodeWeights } from '../../models/stored.js';

interface SampleFlags { maxNewTokens: number; temperature: number; topK: number; topP: number; seed: number; adapter?: string; stop?: string[]; weights: DecodeWeights }

function sampling(c: Command): Command {
  return c
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply')
    .option('--max-new-tokens <n>', 'most tokens to generate', int('--max-new-tokens'), 128)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', float('--temperature'), 0.7)
    .option('--top-k <k>', 'sample from the k most likely tokens (0 = off)', int('--top-k'), 0)
    .option('--top-p <p>', 'nucleus sampling threshold (1 = off)', float('--top-p'), 0.9)
    .option('--stop <text...>', 'stop strings')
    .option('--seed <n>', 'sampling seed', int('--seed'), 0)
    .option('--weights <type>', `how the linear layers are held while decoding: ${DECODE_WEIGHTS.join(' | ')} (${WEIGHTS_HELP}; not with --adapter)`, oneOf('--weights', DECODE_WEIGHTS), 'f32');
}

/** The model folder (and adapter), its linears held as --weights asks. */
function loadFor(dir: string, o: SampleFlags): LoadedModel {
  checkAdaptersFit(o.weights, o.adapter ? 1 : 0);
  const m = loadModel(dir, { adapter: o.adapter });
  return o.weights === 'f32' ? m : { ...m, model: storeWeightsSaying(m.model, o.weights, dir) };
}

/** The sampling flags, checked by the library's schema under their flag names (before any model loads). */
function samplingOf(f: SampleFlags): Sampling {
  return checkSampling(
    { maxNewTokens: f.maxNewTokens, temperature: f.temperature, topK: f.topK, topP: f.topP, seed: f.seed, ...(f.stop ? { stopStrings: f.stop } : {}) },
    { maxNewTokens: '--max-new-tokens', temperature: '--temperature', topK: '--top-k', topP: '--top-p', seed: '--seed', stopStrings: '--stop' },
  );
}

/** Generates one reply from prompt ids, streaming its text to `write` (text that may begin a stop string waits); returns the text. */
function stream(m: LoadedModel, ids: number[], s: Sampling, write: (s: string) => void): string {
  const g = new Generator(m.model, { slots: 1, vocabLimit: m.tok.tokenizer.vocabSize, decoder: () => m.tok.tokenizer.streamDecoder({ skipSpecialTokens: true }) });
  const seq = g.add(ids, { ...s, stopTokens: stopTokenIds(m.tok) });
  while (!g.idle) for (const e of g.step()) write(e.text);
  return seq.text;
}

/** A prompt must leave the model room for one new token; `what` names the flag it came from. */
function promptFits(what: string, ids: readonly number[], m: LoadedModel, room = 1): void {
  const max = m.model.cfg.maxPositions;
  if (ids.length === 0) throw new Error(`${what} is empty`);
  if (ids.length + room > max) {
    throw new Error(`${what} is ${ids.length} tokens; the model holds ${max} positions (max_position_embeddings in ${m.dir}/config.json)` +
      (room > 0 ? `, so a prompt may have at most ${max - room}` : ''));
  }
}

export function register(program: Command): void {
  sampling(program.command('generate'))
    .description('continue a prompt (or answer it with the chat template, --chat)')
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--chat', 'wrap the prompt as a user message with the model\'s chat template')
    .option('--system <text>', 'system message (with --chat)')
    .addHelpText('after', '\nExample:\n  heed generate --model runs/demo/pretrain/model --adapter runs/demo/sft/best --chat --prompt "What is the capital of France?"')
    .action((o: SampleFlags & { model: string; prompt: string; chat?: boolean; system?: string }) => guard(() => {
      const sampling = samplingOf(o);
      const m = loadFor(o.model, o);
      let ids: number[];
      if (o.chat) {
        if (!m.tok.chatTemplate) throw new Error(`${o.model} has no chat template (tokenizer_config.json chat_template)`);
        const msgs: ChatMessage[] = [...(o.system ? [{ role: 'system' as const, content: o.system }] : []), { role: 'user', content: o.prompt }];
        ids = renderPrompt(m.tok.tokenizer, m.tok.chatTemplate, msgs);
      } else {
        ids = m.tok.tokenizer.encode(o.prompt);
      }
      promptFits('--prompt', ids, m);
      if (!o.chat) process.stdout.write(o.prompt);
      stream(m, ids, sampling, (s) => process.stdout.write(s));
      process.stdout.write('\n');
    }));

  sampling(program.command('chat'))
    .description('talk to a model in the terminal (uses its chat template; /reset clears, /exit quits)')
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .option('--system <text>', 'system message')
    .addHelpText('after', '\nExample:\n  heed chat --model runs/demo/pretrain/model --adapter runs/demo/sft/best')
    .action((o: SampleFlags & { model: string; system?: string }) => guard(async () => {
      const sampling = samplingOf(o);
      const m = loadFor(o.model, o);
      if (!m.tok.chatTemplate) throw new Error(`${o.model} has no chat template`);
      // lines are read with the async iterator, which queues them: a pipe delivers many lines while a
      // reply is being generated, and each gets its answer; the end of input ends the chat
      const tty = process.stdin.isTTY === true;
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
      const sys: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
      let history: ChatMessage[] = [...sys];
      const prompt = () => { if (tty) rl.prompt(); };
      if (tty) process.stdout.write('heed chat: /reset to start over, /exit to quit\n');
      rl.setPrompt('you> ');
      prompt();
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === '/exit' || line === '/quit') break;
        if (line === '/reset') history = [...sys];
        else if (line) {
          history.push({ role: 'user', content: line });
          if (tty) process.stdout.write('heed> ');
          const ids = renderPrompt(m.tok.tokenizer, m.tok.chatTemplate, history);
          const reply = stream(m, ids, sampling, (s) => process.stdout.write(s));
          process.stdout.write('\n');
          history.push({ role: 'assistant', content: reply.trim() });
        }
        prompt();
      }
      rl.close();
    }));

  program
    .command('logprobs')
    .description('print, as JSON, the log-probability of each token given the ones before it')
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .option('--ids <list>', 'comma-separated token ids')
    .option('--text <text>', 'text to tokenize instead of --ids')
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply')
    .addHelpText('after', '\nExample:\n  heed logprobs --model models/llama-tiny --ids 12,7,99,4')
    .action((o: { model: string; ids?: string; text?: string; adapter?: string }) => guard(() => {
      const m = loadModel(o.model, { adapter: o.adapter });
      let ids: number[];
      if (o.ids !== undefined) {
        ids = o.ids.split(',').map((s, i) => {
          const n = s.trim() === '' ? NaN : Number(s);
          if (!Number.isInteger(n) || n < 0 || n >= m.model.cfg.vocabSize) throw new Error(`--ids: item ${i + 1} ('${s}') is not a token id in [0, ${m.model.cfg.vocabSize})`);
          return n;
        });
      } else if (o.text !== undefined) ids = m.tok.tokenizer.encode(o.text);
      else throw new Error('give --ids or --text');
      const what = o.ids !== undefined ? '--ids' : '--text';
      if (ids.length < 2) throw new Error(`${what} gives ${ids.length} token${ids.length === 1 ? '' : 's'}; log-probabilities need at least two`);
      promptFits(what, ids, m, 0);
      const lp = tokenLogprobs(m.model, scoredBatch([{ prompt: ids.slice(0, 1), response: ids.slice(1) }])).logp;
      console.log(JSON.stringify({ ids, logprobs: Array.from(lp.f32, (v) => Number(v.toFixed(6))) }));
    }));
}
