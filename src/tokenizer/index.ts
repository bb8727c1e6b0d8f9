// Public API of heed's tokenizer layer: byte-level BPE (load, encode, decode, train), chat
// templates, tokenizer folders, and renderConversation (ids + loss mask for training and inference).
export { Tokenizer, StreamDecoder } from './tokenizer.js';
export type { AddedToken, DecodeOptions, EncodeOptions } from './tokenizer.js';
export { trainBPE, heedTokenizerJSON, CHATML_SPECIAL_TOKENS } from './train.js';
export type { TrainBPEOptions, TrainProgress } from './train.js';
export {
  ChatTemplate, CHATML_TEMPLATE, END_OF_TURN_CANDIDATES, renderConversation, renderPrompt,
} from './chat.js';
export type { ChatMessage, ChatTemplateOptions, RenderOptions, RenderedConversation } from './chat.js';
export { loadTokenizerFolder, saveTokenizerFolder, stopTokenIds } from './folder.js';
export type { TokenizerFolder, SaveTokenizerOptions } from './folder.js';
export { GPT2_PATTERN, QWEN2_PATTERN, SPLIT_SPACES, WORDS_PATTERN, translatePattern } from './regex.js';
export { BYTE_TO_CHAR } from './bytes.js';
