// Translates the Oniguruma/Rust regex dialect of Hugging Face `tokenizer.json` split patterns into
// an equivalent JavaScript RegExp (`u` flag), and holds the standard pre-tokenizer patterns.

/** GPT-2's pre-tokenizer pattern (also the ByteLevel pre-tokenizer's built-in one). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Qwen2/Qwen3's pattern: GPT-4's with single digits, so numbers are spelled digit by digit (which
 * small models find much easier to do arithmetic with). heed trains its own tokenizers with it.
 */
export const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * Qwen2's pattern with spaces kept out of words: "is Moscow" is "is", " ", "Moscow". A word is then
 * one token sequence wherever it stands (after a space, at a line start, first in an answer after
 * `<|im_start|>assistant\n`), so a small model that learned " Moscow" from prose need not learn
 * "Moscow" separately to say it as an answer, or to copy a word out of a prompt. It costs about
 * half as many tokens again on English prose.
 */
export const WORDS_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * How heed trains a split-spaces tokenizer: merges are learned within WORDS_PATTERN's pieces, and
 * text is split with Qwen2's pattern. No merge joins a space to a letter, so Qwen2's " Moscow" piece
 * still becomes " " + "Moscow" (the property above), while the tokenizer.json holds a pattern
 * llama.cpp has (pre-tokenizer "qwen2"), and exports to GGUF. (Only an apostrophe that opens a word
 * without forming a contraction, as in "'round", can merge with the letter after it.)
 */
export const SPLIT_SPACES = { pattern: QWEN2_PATTERN, learnWithin: WORDS_PATTERN } as const;

// Rust and Oniguruma mean Unicode White_Space by \s; JavaScript's \s differs (it has U+FEFF and
// lacks U+0085), and \d/\w are ASCII-only in JavaScript but Unicode in both of the others.
const WORD_CLASS = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');

function isLetter(ch: string): boolean {
  return ch.toLowerCase() !== ch.toUpperCase();
}

function caseVariants(ch: string): string {
  const lo = ch.toLowerCase();
  const up = ch.toUpperCase();
  // Only simple one-to-one mappings; 'ß'.toUpperCase() is "SS", which a class cannot hold.
  return [...new Set([ch, lo, up].filter((c) => [...c].length === 1))].join('');
}

function literal(cp: string, inClass: boolean): string {
  if (SYNTAX_CHARS.has(cp) || (inClass && cp === '-')) return '\\' + cp;
  return cp;
}

/**
 * Translate a pattern. `where` names the tokenizer.json field for error messages. Returns the
 * JavaScript source and flags (`gu`, plus `i` for a leading `(?i)`).
 */
export function translatePattern(src: string, where: string): { source: string; flags: string } {
  let flags = 'gu';
  let i = 0;
  if (src.startsWith('(?i)')) {
    flags += 'i';
    i = 4;
  }
  const fail = (what: string): never => {
    throw new Error(`${where}: regex ${JSON.stringify(src)}: ${what} is not supported`);
  };
  let out = '';
  let ci = false;
  const ciStack: boolean[] = [];

  // Reads one escape starting at src[i] === '\\'; returns [translation, length].
  const escape = (inClass: boolean): [string, number] => {
    const c = src[i + 1];
    if (c === undefined) return fail('a trailing backslash');
    switch (c) {
      case 's': return ['\\p{White_Space}', 2];
      case 'S': return ['\\P{White_Space}', 2];
      case 'd': return ['\\p{Nd}', 2];
      case 'D': return ['\\P{Nd}', 2];
      case 'w': return [inClass ? WORD_CLASS : `[${WORD_CLASS}]`, 2];
      case 'W': return inClass ? fail('\\W inside a character class') : [`[^${WORD_CLASS}]`, 2];
      case 'n': case 'r': case 't': case 'f': case 'v': case '0': return ['\\' + c, 2];
      case 'b': case 'B': return inClass ? fail('\\b inside a character class') : ['\\' + c, 2];
      case 'A': return ['(?<![\\s\\S])', 2];
      case 'z': return ['(?![\\s\\S])', 2];
      case 'Z': return ['(?=\\n?(?![\\s\\S]))', 2];
      case 'p': case 'P': {
        let name: string;
        let len: number;
        if (src[i + 2] === '{') {
          const close = src.indexOf('}', i + 3);
          if (close < 0) return fail('an unclosed \\p{');
          name = src.slice(i + 3, close);
          len = close + 1 - i;
        } else {
          name = src[i + 2] ?? fail('a bare \\p');
          len = 3;
        }
        for (const candidate of [name, `Script=${name}`]) {
          try {
            new RegExp(`\\${c}{${candidate}}`, 'u');
            return [`\\${c}{${candidate}}`, len];
          } catch {
            // try the next spelling
          }
        }
        return fail(`the Unicode property \\p{${name}}`);
      }
      case 'x': {
        if (src[i + 2] === '{') {
          const close = src.indexOf('}', i + 3);
          if (close < 0) return fail('an unclosed \\x{');
          return [`\\u{${src.slice(i + 3, close)}}`, close + 1 - i];
        }
        return ['\\x' + src.slice(i + 2, i + 4), 4];
      }
      case 'u': return ['\\u' + src.slice(i + 2, i + 6), 6];
      default:
        if (/[0-9A-Za-z]/.test(c)) return fail(`the escape \\${c}`);
        // Any escaped punctuation is a literal in Rust and Oniguruma; JavaScript's `u` mode only
        // accepts escapes of its own syntax characters.
        return [literal(c, inClass), 2];
    }
  };

  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') {
      const [t, n] = escape(false);
      out += t;
      i += n;
    } else if (c === '[') {
      let cls = '[';
      i++;
      if (src[i] === '^') {
        cls += '^';
        i++;
      }
      let first = true;
      while (i < src.length && (src[i] !== ']' || first)) {
        const d = src[i]!;
        if (d === '\\') {
          const [t, n] = escape(true);
          cls += t;
          i += n;
        } else if (d === '[') {
          return fail('a nested character class');
        } else if (d === '&' && src[i + 1] === '&') {
          return fail('class intersection (&&)');
        } else {
          const cp = String.fromCodePoint(src.codePointAt(i)!);
          cls += ci && isLetter(cp) ? caseVariants(cp) : d === '-' ? '-' : literal(cp, true);
          i += cp.length;
        }
        first = false;
      }
      if (src[i] !== ']') return fail('an unclosed character class');
      out += cls + ']';
      i++;
    } else if (c === '(') {
      ciStack.push(ci);
      if (src.startsWith('(?i:', i)) {
        ci = true;
        out += '(?:';
        i += 4;
      } else if (src.startsWith('(?-i:', i)) {
        ci = false;
        out += '(?:';
        i += 5;
      } else if (src.startsWith('(?P<', i)) {
        out += '(?<';
        i += 4;
      } else if (src[i + 1] === '?' && !/^\(\?(?::|=|!|<=|<!|<[A-Za-z])/.test(src.slice(i, i + 4))) {
        return fail(`the group syntax ${src.slice(i, i + 4)}`);
      } else {
        out += '(';
        i++;
      }
    } else if (c === ')') {
      ci = ciStack.pop() ?? false;
      out += ')';
      i++;
    } else if ((c === '+' || c === '*' || c === '?' || c === '}') && src[i + 1] === '+') {
      return fail('a possessive quantifier');
    } else if (c === '$') {
      out += '(?![^\\n])'; // Oniguruma's $ is an end-of-line anchor
      i++;
    } else if (c === '^') {
      out += '(?<![^\\n])';
      i++;
    } else {
      const cp = String.fromCodePoint(src.codePointAt(i)!);
      out += ci && isLetter(cp) ? `[${caseVariants(cp)}]` : cp;
      i += cp.length;
    }
  }
  try {
    new RegExp(out, flags);
  } catch (e) {
    return fail(`its translation (${(e as Error).message})`);
  }
  return { source: out, flags };
}

export function compilePattern(src: string, where: string): RegExp {
  const { source, flags } = translatePattern(src, where);
  return new RegExp(source, flags);
}
