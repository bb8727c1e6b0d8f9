// Reads and writes the tokenizer half of a Hugging Face model folder: tokenizer.json,
// tokenizer_config.json (special tokens, chat template), chat_template.jinja, generation_config.json.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHATML_TEMPLATE, ChatTemplate, END_OF_TURN_CANDIDATES } from './chat.js';
import { Tokenizer } from './tokenizer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readJson, readText } from '../util/text.js';

export interface TokenizerFolder {
  tokenizer: Tokenizer;
  /** null when the folder has no chat template (a base model). */
  chatTemplate: ChatTemplate | null;
  bosTokenId: number | null;
  /** tokenizer_config.json's eos_token. */
  eosTokenId: number | null;
  /** Ids that end generation: generation_config.json's eos_token_id when present, else [eosTokenId]. */
  eosTokenIds: number[];
  /** The token that closes a chat turn (`<|im_end|>` for ChatML), or the eos token. */
  eotTokenId: number | null;
  padTokenId: number | null;
  /** tokenizer_config.json as read ({} when absent). */
  config: Record<string, unknown>;
}

/** tokenizer_config.json spells tokens either as strings or as AddedToken objects. */
function tokenText(v: unknown, path: string, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  throw new Error(`${path}: ${field}: expected a string or {"content": ...}, got ${JSON.stringify(v)}`);
}

function idOf(tok: Tokenizer, text: string | null, path: string, field: string): number | null {
  if (text === null) return null;
  const id = tok.tokenToId(text);
  if (id === undefined) throw new Error(`${path}: ${field}: token ${JSON.stringify(text)} is not in the vocabulary`);
  return id;
}

export function loadTokenizerFolder(dir: string): TokenizerFolder {
  const tokPath = join(dir, 'tokenizer.json');
  if (!existsSync(dir)) throw new Error(`${dir}: no tokenizer.json (no such folder)`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: is a file, not a folder holding tokenizer.json`);
  if (!existsSync(tokPath)) throw new Error(`${dir}: no tokenizer.json (only byte-level BPE tokenizer.json folders are supported)`);
  const tokenizer = Tokenizer.fromJSON(readJson(tokPath), tokPath);

  const cfgPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(cfgPath) ? (readJson(cfgPath) as Record<string, unknown>) : {};
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new Error(`${cfgPath}: expected a JSON object`);
  }
  const bos = tokenText(config.bos_token, cfgPath, 'bos_token');
  const eos = tokenText(config.eos_token, cfgPath, 'eos_token');
  const pad = tokenText(config.pad_token, cfgPath, 'pad_token');

  // chat_template.jinja wins over tokenizer_config.json, as in transformers.
  let source: string | null = null;
  const jinjaPath = join(dir, 'chat_template.jinja');
  let origin = cfgPath;
  if (existsSync(jinjaPath)) { source = readText(jinjaPath); origin = jinjaPath; }
  else if (typeof config.chat_template === 'string') source = config.chat_template;
  else if (Array.isArray(config.chat_template)) {
    // Named templates: [{name, template}]; "default" is the one apply_chat_template uses.
    const named = config.chat_template as Array<{ name?: unknown; template?: unknown }>;
    const pick = named.find((t) => t.name === 'default') ?? named[0];
    if (typeof pick?.template !== 'string') throw new Error(`${cfgPath}: chat_template: no "default" template string`);
    source = pick.template;
  } else if (config.chat_template !== undefined && config.chat_template !== null) {
    throw new Error(`${cfgPath}: chat_template: expected a string or a list of {name, template}`);
  }

  const eosTokenId = idOf(tokenizer, eos, cfgPath, 'eos_token');
  let eotToken: string | null = null;
  for (const t of END_OF_TURN_CANDIDATES) {
    if (tokenizer.tokenToId(t) !== undefined && (source === null || source.includes(t))) {
      eotToken = t;
      break;
    }
  }
  eotToken ??= eos;

  let eosTokenIds = eosTokenId === null ? [] : [eosTokenId];
  const genPath = join(dir, 'generation_config.json');
  if (existsSync(genPath)) {
    const gen = readJson(genPath);
    if (typeof gen !== 'object' || gen === null || Array.isArray(gen)) throw new Error(`${genPath}: expected a JSON object`);
    const v = (gen as { eos_token_id?: unknown }).eos_token_id;
    const list = typeof v === 'number' ? [v] : Array.isArray(v) ? v : v === undefined || v === null ? null : undefined;
    if (list === undefined || (list && !list.every((x) => Number.isInteger(x)))) {
      throw new Error(`${genPath}: eos_token_id: expected an id or a list of ids, got ${JSON.stringify(v)}`);
    }
    if (list) eosTokenIds = list as number[];
  }

  return {
    tokenizer,
    // compiled when first rendered, so a broken template fails only the commands that use it
    chatTemplate: source === null ? null : new ChatTemplate(source, { bosToken: bos, eosToken: eos, eotToken, origin }),
    bosTokenId: idOf(tokenizer, bos, cfgPath, 'bos_token'),
    eosTokenId,
    eosTokenIds,
    eotTokenId: eotToken === null ? null : tokenizer.tokenToId(eotToken) ?? null,
    padTokenId: idOf(tokenizer, pad, cfgPath, 'pad_token'),
    config,
  };
}

export interface SaveTokenizerOptions {
  /** Jinja chat template; default CHATML_TEMPLATE. Pass null for a folder without one. */
  chatTemplate?: string | null;
  bosToken?: string | null;
  /** Default `<|im_end|>` when the vocabulary has it (the token a chat model stops on). */
  eosToken?: string | null;
  /** Default `<|endoftext|>` when the vocabulary has it. */
  padToken?: string | null;
  modelMaxLength?: number;
}

/** Write tokenizer.json and tokenizer_config.json (each to a temporary name, then renamed). */
export function saveTokenizerFolder(dir: string, tokenizer: Tokenizer, opts: SaveTokenizerOptions = {}): void {
  const has = (t: string): string | null => (tokenizer.tokenToId(t) !== undefined ? t : null);
  const eos = opts.eosToken === undefined ? has('<|im_end|>') : opts.eosToken;
  const pad = opts.padToken === undefined ? has('<|endoftext|>') : opts.padToken;
  const bos = opts.bosToken ?? null;
  for (const [field, t] of [['bosToken', bos], ['eosToken', eos], ['padToken', pad]] as const) {
    if (t !== null && tokenizer.tokenToId(t) === undefined) {
      throw new Error(`saveTokenizerFolder: ${field} ${JSON.stringify(t)} is not in the vocabulary`);
    }
  }
  const decoderEntries: Record<string, unknown> = {};
  for (const t of tokenizer.addedTokens) {
    decoderEntries[String(t.id)] = {
      content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip,
      single_word: t.singleWord, special: t.special,
    };
  }
  const chatTemplate = opts.chatTemplate === undefined ? CHATML_TEMPLATE : opts.chatTemplate;
  const config: Record<string, unknown> = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: decoderEntries,
    bos_token: bos,
    ...(chatTemplate === null ? {} : { chat_template: chatTemplate }),
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    errors: 'replace',
    model_max_length: opts.modelMaxLength ?? 131072,
    pad_token: pad,
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON(), null, 2) + '\n');
  writeFileAtomic(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
}

/** Tokens that end a reply: the folder's eos ids plus the end-of-turn token. */
export function stopTokenIds(tok: TokenizerFolder): number[] {
  const s = new Set(tok.eosTokenIds);
  if (tok.eotTokenId !== null) s.add(tok.eotTokenId);
  return [...s];
}
