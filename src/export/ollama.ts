// Ollama's Modelfile for an exported GGUF: FROM, ADAPTER, the chat template translated from Jinja to
// Ollama's Go template (ChatML, the format of heed's models), and stop parameters.
import { CHATML_TEMPLATE, ChatTemplate, type ChatMessage, type TokenizerFolder } from '../tokenizer/index.js';

/** Conversations whose renderings tell one template family from another. */
const PROBES: ReadonlyArray<{ messages: ChatMessage[]; gen: boolean }> = [
  { messages: [{ role: 'user', content: 'Hi there' }], gen: true },
  { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name a colour.' }, { role: 'assistant', content: 'Blue.' }, { role: 'user', content: 'Another?' }], gen: true },
  { messages: [{ role: 'user', content: 'a\nb' }, { role: 'assistant', content: 'c' }], gen: false },
];

/** Ollama's ChatML: each message `<|im_start|>role\ncontent<|im_end|>\n`, then the assistant's turn opens. */
export const OLLAMA_CHATML = `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

/** True when `tpl` renders every probe exactly as heed's ChatML template does. */
export function isChatML(tpl: ChatTemplate): boolean {
  const ref = new ChatTemplate(CHATML_TEMPLATE);
  return PROBES.every((p) => {
    try { return tpl.render(p.messages, { addGenerationPrompt: p.gen }) === ref.render(p.messages, { addGenerationPrompt: p.gen }); } catch { return false; }
  });
}

/** The Go template for the model's chat template, or an error naming what cannot be translated. */
export function ollamaTemplate(tok: TokenizerFolder, where: string): string {
  if (!tok.chatTemplate) throw new Error(`${where} has no chat template (tokenizer_config.json chat_template), so Ollama would not know how to format a chat`);
  if (isChatML(tok.chatTemplate)) return OLLAMA_CHATML;
  throw new Error(`${where}: its chat template is not ChatML (as heed's models use), and heed translates only ChatML to an Ollama TEMPLATE; write the TEMPLATE by hand`);
}

const quote = (s: string): string => JSON.stringify(s);

/** Stop strings: the end-of-turn token and every end-of-sequence token, by their text. */
export function stopStrings(tok: TokenizerFolder): string[] {
  const ids = new Set([...(tok.eotTokenId !== null ? [tok.eotTokenId] : []), ...tok.eosTokenIds]);
  return [...ids].map((id) => tok.tokenizer.idToToken(id)).filter((s): s is string => s !== undefined);
}

export interface ModelfileOptions { model: string; adapter?: string; template: string; stops: readonly string[] }

export function modelfile(o: ModelfileOptions): string {
  const lines = [
    '# Written by `heed export --to ollama`. Create the model with: ollama create NAME -f Modelfile',
    `FROM ${o.model}`,
    ...(o.adapter ? [`ADAPTER ${o.adapter}`] : []),
    `TEMPLATE """${o.template}"""`,
    ...o.stops.map((s) => `PARAMETER stop ${quote(s)}`),
  ];
  return lines.join('\n') + '\n';
}
