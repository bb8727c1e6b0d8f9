// renderConversation: the generation prompt's ids are a prefix of the training ids, and the loss
// mask covers exactly each assistant reply and its end-of-turn token; ChatML and Qwen3's template.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHATML_TEMPLATE, ChatTemplate, Tokenizer, loadTokenizerFolder, renderConversation, renderPrompt,
  type ChatMessage,
} from '../../src/tokenizer/index.js';
import { QWEN3_DIR, qwen3Config, qwen3Json } from './helpers.js';

const qwen = Tokenizer.fromJSON(qwen3Json());
const qwenTemplate = new ChatTemplate(qwen3Config().chat_template as string, { eosToken: '<|im_end|>' });
const chatml = new ChatTemplate(CHATML_TEMPLATE);

const convo: ChatMessage[] = [
  { role: 'system', content: 'You are a terse assistant.' },
  { role: 'user', content: 'What is the capital of France?' },
  { role: 'assistant', content: 'Paris.' },
  { role: 'user', content: 'And of Japan? Answer  with two\nlines.' },
  { role: 'assistant', content: 'Tokyo.\n  It is on Honshu 🗾.' },
  { role: 'user', content: 'Thanks!' },
  { role: 'assistant', content: 'You are welcome.  ' },
];

/** The decoded text of each maximal run of mask-1 tokens. */
function trainedRuns(tok: Tokenizer, ids: number[], mask: number[]): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  ids.forEach((id, i) => {
    if (mask[i]) cur.push(id);
    else if (cur.length) { runs.push(tok.decode(cur)); cur = []; }
  });
  if (cur.length) runs.push(tok.decode(cur));
  return runs;
}

function checkPrefixes(template: ChatTemplate, kwargs: Record<string, unknown> = {}): void {
  for (let i = 0; i < convo.length; i++) {
    if (convo[i]!.role !== 'assistant') continue;
    const prompt = renderPrompt(qwen, template, convo.slice(0, i), kwargs);
    const promptMask = renderConversation(qwen, template, convo.slice(0, i), { ...kwargs, addGenerationPrompt: true }).lossMask;
    assert.deepEqual(promptMask.slice(-3), [0, 0, 0], 'the generation prompt is not trained on');
    for (const upto of [i + 1, convo.length]) {
      const { ids, lossMask } = renderConversation(qwen, template, convo.slice(0, upto), kwargs);
      assert.equal(ids.length, lossMask.length);
      assert.deepEqual(ids.slice(0, prompt.length), prompt, `prompt for message ${i} vs conversation[0..${upto})`);
      assert.deepEqual(lossMask.slice(0, prompt.length), promptMask, `mask of the prompt for message ${i}`);
    }
  }
}

test('ChatML: prompt ids prefix the conversation; mask = replies + <|im_end|>', () => {
  checkPrefixes(chatml);
  const { ids, lossMask } = renderConversation(qwen, chatml, convo);
  // Segment-wise tokenization gives the same ids as tokenizing the rendered text at once.
  assert.deepEqual(ids, qwen.encode(chatml.render(convo)));
  assert.deepEqual(trainedRuns(qwen, ids, lossMask), [
    'Paris.<|im_end|>', 'Tokyo.\n  It is on Honshu 🗾.<|im_end|>', 'You are welcome.  <|im_end|>',
  ]);
  const lead = renderConversation(qwen, chatml, [{ role: 'user', content: 'x' }, { role: 'assistant', content: '  lead\n' }]);
  assert.deepEqual(trainedRuns(qwen, lead.ids, lead.lossMask), ['  lead\n<|im_end|>']);
  // The generation prompt itself is never trained on.
  const p = renderConversation(qwen, chatml, convo.slice(0, 6), { addGenerationPrompt: true });
  assert.ok(qwen.decode(p.ids).endsWith('<|im_start|>assistant\n'));
  assert.equal(p.lossMask.reduce((a, b) => a + b, 0), qwen.encode('Paris.<|im_end|>Tokyo.\n  It is on Honshu 🗾.<|im_end|>').length);
});

test("Qwen3's real template: prefixes and mask hold, thinking block included in the last reply", () => {
  checkPrefixes(qwenTemplate);
  const { ids, lossMask } = renderConversation(qwen, qwenTemplate, convo);
  assert.deepEqual(ids, qwen.encode(qwenTemplate.render(convo)));
  assert.deepEqual(trainedRuns(qwen, ids, lossMask), [
    'Paris.<|im_end|>',
    'Tokyo.\n  It is on Honshu 🗾.<|im_end|>',
    // Qwen3 renders the final reply with an empty think block; the prompt stops at "assistant\n".
    // (@huggingface/jinja's lstrip('\n') strips all whitespace, unlike Python's, so this reply
    // starts with a letter.)
    '<think>\n\n</think>\n\nYou are welcome.  <|im_end|>',
  ]);
  // With enable_thinking=false the empty block moves into the prompt, for a single turn.
  const one = convo.slice(0, 3);
  const r = renderConversation(qwen, qwenTemplate, one, { enable_thinking: false });
  assert.deepEqual(trainedRuns(qwen, r.ids, r.lossMask), ['Paris.<|im_end|>']);
  assert.deepEqual(r.ids.slice(0, renderPrompt(qwen, qwenTemplate, one.slice(0, 2), { enable_thinking: false }).length),
    renderPrompt(qwen, qwenTemplate, one.slice(0, 2), { enable_thinking: false }));
});

test('a template whose prompt is not a prefix of the conversation is refused clearly', () => {
  // Qwen3 with enable_thinking=false puts an empty think block in the prompt but not in earlier
  // turns of the history, so multi-turn training text would not extend the generation prompt.
  assert.throws(() => renderConversation(qwen, qwenTemplate, convo, { enable_thinking: false }),
    /prompt for message 2 .* is not a prefix of the rendered conversation/);
  const reordering = new ChatTemplate(
    "{% for m in messages|reverse %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}");
  assert.throws(() => renderConversation(qwen, reordering, convo.slice(1, 3)), /not a prefix/);
});

test('loadTokenizerFolder reads Qwen3: template, eos, end of turn', () => {
  const f = loadTokenizerFolder(QWEN3_DIR);
  assert.equal(f.eosTokenId, 151645);
  assert.deepEqual(f.eosTokenIds, [151645]);
  assert.equal(f.eotTokenId, 151645);
  assert.equal(f.padTokenId, 151643);
  assert.equal(f.bosTokenId, null);
  assert.ok(f.chatTemplate);
  const text = f.chatTemplate.render(convo.slice(0, 2), { addGenerationPrompt: true, enable_thinking: false });
  assert.ok(text.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
});

test('templates see bos/eos and extra kwargs', () => {
  const t = new ChatTemplate('{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}{% if flag is defined %}[{{ flag }}]{% endif %}',
    { bosToken: '<s>', eosToken: '</s>' });
  assert.equal(t.render([{ role: 'user', content: 'x' }]), '<s>x</s>');
  assert.equal(t.render([{ role: 'user', content: 'x' }], { flag: 3 }), '<s>x</s>[3]');
  // a broken template is reported when it is used, naming the file it came from
  const broken = new ChatTemplate('{% for %}', { origin: 'm/tokenizer_config.json' });
  assert.equal(broken.source, '{% for %}');
  assert.throws(() => broken.render([{ role: 'user', content: 'x' }]), /^Error: m\/tokenizer_config\.json: chat template: cannot parse/);
  assert.throws(() => new ChatTemplate('{{ x.y() }}').render([]), /^Error: chat template: rendering failed/);
});
