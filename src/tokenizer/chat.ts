// Chat templates (Hugging Face Jinja, rendered with @huggingface/jinja) and the one function that
// turns a conversation into token ids plus a loss mask, shared by training and inference.
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from './tokenizer.js';

export interface ChatMessage {
  role: string;
  content: string;
  /** Extra fields templates may read (reasoning_content, tool_calls, name, ...). */
  [field: string]: unknown;
}

/** Qwen2-style ChatML without a default system prompt: heed's own models use it. */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** Tokens that end an assistant turn in the common template families, in order of preference. */
export const END_OF_TURN_CANDIDATES = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>', '<|endoftext|>'] as const;

export interface ChatTemplateOptions {
  bosToken?: string | null;
  eosToken?: string | null;
  /** The text that closes an assistant turn (e.g. `<|im_end|>`); trained on with the content. */
  eotToken?: string | null;
  /** The file the template came from, named in its errors (tokenizer_config.json, chat_template.jinja). */
  origin?: string;
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  /** Further template variables (enable_thinking, tools, ...). */
  [kwarg: string]: unknown;
}

export class ChatTemplate {
  readonly source: string;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly eotToken: string | null;
  private readonly where: string;
  private compiled: Template | null = null;

  /** The template is parsed when first rendered: a model folder with a broken one still loads. */
  constructor(source: string, opts: ChatTemplateOptions = {}) {
    this.source = source;
    this.bosToken = opts.bosToken ?? null;
    this.eosToken = opts.eosToken ?? null;
    this.eotToken = opts.eotToken ?? null;
    this.where = opts.origin ? `${opts.origin}: chat template` : 'chat template';
  }

  private get template(): Template {
    if (this.compiled) return this.compiled;
    try {
      this.compiled = new Template(this.source);
    } catch (e) {
      throw new Error(`${this.where}: cannot parse: ${(e as Error).message}`);
    }
    return this.compiled;
  }

  /** The template's text for `messages` (what HF's apply_chat_template(tokenize=False) returns). */
  render(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    const { addGenerationPrompt, ...kwargs } = opts;
    const vars: Record<string, unknown> = {
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
    };
    // Templates test `x is defined`, so undefined kwargs must be absent, not present as undefined.
    for (const [k, v] of Object.entries(kwargs)) if (v !== undefined) vars[k] = v;
    vars.messages = messages.map((m) => ({ ...m }));
    vars.add_generation_prompt = addGenerationPrompt ?? false;
    const template = this.template;
    try {
      return template.render(vars);
    } catch (e) {
      throw new Error(`${this.where}: rendering failed: ${(e as Error).message}`);
    }
  }
}

export interface RenderedConversation {
  ids: number[];
  /** 1 where the model is trained to predict the token (assistant content and its end of turn). */
  lossMask: number[];
}

function endOfTurn(tok: Tokenizer, template: ChatTemplate): string | null {
  if (template.eotToken !== null) return template.eotToken;
  for (const t of END_OF_TURN_CANDIDATES) if (tok.tokenToId(t) !== undefined) return t;
  return template.eosToken;
}

function divergence(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at character ${i}: ${JSON.stringify(a.slice(i, i + 40))} vs ${JSON.stringify(b.slice(i, i + 40))}`;
}

/**
 * Render `messages` to token ids and a loss mask. For each assistant message i, the template is
 * rendered for messages[0..i) with the generation prompt (the prompt the model would be given at
 * inference) and must be a prefix of the full rendering; the text after it, up to and including the
 * first end-of-turn token, is the trained span. (Ending at the end-of-turn token rather than at the
 * rendering of messages[0..i] matters for templates such as Qwen3's, which render the last
 * assistant turn with an empty think block and earlier ones without.) The text is tokenized piece
 * by piece at these boundaries, so the ids of a conversation start with exactly the ids of the
 * prompt for the same history: renderPrompt(history) is a prefix of renderConversation(history +
 * [reply]).ids, and training and generation see the same tokens.
 */
export function renderConversation(
  tok: Tokenizer,
  template: ChatTemplate,
  messages: readonly ChatMessage[],
  opts: RenderOptions = {},
): RenderedConversation {
  const { addGenerationPrompt, ...kwargs } = opts;
  const full = template.render(messages, { ...kwargs, addGenerationPrompt: addGenerationPrompt ?? false });
  const eot = endOfTurn(tok, template);
  const spans: Array<[number, number]> = [];
  for (let i = 0; i < messages.length; i++) {
    if (messages[i]!.role !== 'assistant') continue;
    const prompt = template.render(messages.slice(0, i), { ...kwargs, addGenerationPrompt: true });
    if (!full.startsWith(prompt)) {
      throw new Error(
        `chat template: the prompt for message ${i} (messages[0..${i}) with add_generation_prompt) is not a prefix ` +
          `of the rendered conversation, so training and generation would see different tokens; they differ ${divergence(prompt, full)}`,
      );
    }
    const start = prompt.length;
    const prev = spans[spans.length - 1];
    if (prev && start < prev[1]) {
      throw new Error(`chat template: the prompt for message ${i} ends inside the previous assistant turn`);
    }
    // Where this turn's text ends: the rendering through message i if that is a prefix, else the
    // whole text; the trained span stops earlier, right after the end-of-turn token.
    const through = template.render(messages.slice(0, i + 1), { ...kwargs, addGenerationPrompt: false });
    let bound = full.startsWith(through) && through.length >= start ? through.length : full.length;
    const nextAsst = messages.findIndex((m, j) => j > i && m.role === 'assistant');
    if (nextAsst >= 0) {
      const nextPrompt = template.render(messages.slice(0, nextAsst), { ...kwargs, addGenerationPrompt: true });
      if (full.startsWith(nextPrompt)) bound = Math.min(bound, nextPrompt.length);
    }
    let end = bound;
    if (eot) {
      const at = full.indexOf(eot, start);
      if (at >= 0 && at + eot.length <= bound) end = at + eot.length;
    }
    spans.push([start, end]);
  }

  const ids: number[] = [];
  const lossMask: number[] = [];
  const piece = (from: number, to: number, mask: number): void => {
    if (to <= from) return;
    for (const id of tok.encode(full.slice(from, to))) {
      ids.push(id);
      lossMask.push(mask);
    }
  };
  let at = 0;
  for (const [s, e] of spans) {
    piece(at, s, 0);
    piece(s, e, 1);
    at = e;
  }
  piece(at, full.length, 0);
  return { ids, lossMask };
}

/** Ids of the generation prompt for `messages` (the history before the reply). */
export function renderPrompt(
  tok: Tokenizer,
  template: ChatTemplate,
  messages: readonly ChatMessage[],
  kwargs: Omit<RenderOptions, 'addGenerationPrompt'> = {},
): number[] {
  return renderConversation(tok, template, messages, { ...kwargs, addGenerationPrompt: true }).ids;
}
