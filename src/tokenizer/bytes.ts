// GPT-2's byte <-> printable-character table: byte-level BPE vocabularies spell every byte as one
// visible Unicode character (space is 'Ġ', newline 'Ċ') so tokens are readable strings in JSON.

/** BYTE_TO_CHAR[b] is the character that stands for byte b in a byte-level vocabulary. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  const kept = new Set(keep);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    // Printable bytes stand for themselves; the rest are shifted past 255 in order.
    table[b] = String.fromCharCode(kept.has(b) ? b : 256 + next++);
  }
  return table;
})();

/** Inverse of BYTE_TO_CHAR, keyed by UTF-16 code unit (every table character is in the BMP). */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(
  BYTE_TO_CHAR.map((ch, b) => [ch.charCodeAt(0), b] as const),
);

const utf8Encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** The byte-level spelling of a string: its UTF-8 bytes mapped through BYTE_TO_CHAR. */
export function byteLevelString(text: string): string {
  let s = '';
  for (const b of utf8Encoder.encode(text)) s += BYTE_TO_CHAR[b]!;
  return s;
}

/**
 * Bytes of a byte-level token string. A token with a character outside the table (an added token
 * like "<|im_end|>" never has one, but hand-edited vocabularies may) decodes to its own UTF-8, as
 * the Hugging Face ByteLevel decoder does.
 */
export function tokenStringBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token.charCodeAt(i));
    if (b === undefined) return utf8Encoder.encode(token);
    out[i] = b;
  }
  return out;
}

/**
 * How many bytes at the end of `bytes` are an incomplete UTF-8 sequence that more bytes could still
 * complete (0 when the buffer ends on a character boundary or on bytes that can never be valid).
 */
export function incompleteUtf8Tail(bytes: Uint8Array, length = bytes.length): number {
  for (let back = 1; back <= Math.min(3, length); back++) {
    const b = bytes[length - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const need = b < 0xc2 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf5 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}
