/**
 * Prompt token estimates without a tokenizer, good enough for routing decisions.
 *
 * CJK-aware: Chinese ideographs, Japanese kana, Korean hangul and CJK / full-width
 * punctuation count as about one token each (that is how BPE vocabularies of the
 * common Chinese and multilingual models behave); everything else counts as about
 * four characters per token. Every message adds a small fixed overhead for its role
 * and separators, as the OpenAI chat format does.
 */

/** Tokens added per chat message (role, separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Tokens added once per request (the assistant reply primer). */
export const REQUEST_OVERHEAD_TOKENS = 3;
/** Tokens counted for each image part (OpenAI's low-detail cost). */
export const IMAGE_PART_TOKENS = 85;

/** True for code points counted as one token each. */
export function isCjkCodePoint(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || // CJK unified ideographs
    (cp >= 0x3400 && cp <= 0x4dbf) || // extension A
    (cp >= 0x20000 && cp <= 0x3ffff) || // extensions B..H (planes 2-3)
    (cp >= 0xf900 && cp <= 0xfaff) || // compatibility ideographs
    (cp >= 0x3040 && cp <= 0x30ff) || // hiragana, katakana
    (cp >= 0x31f0 && cp <= 0x31ff) || // katakana phonetic extensions
    (cp >= 0xff65 && cp <= 0xff9f) || // half-width katakana
    (cp >= 0xac00 && cp <= 0xd7af) || // hangul syllables
    (cp >= 0x1100 && cp <= 0x11ff) || // hangul jamo
    (cp >= 0x3130 && cp <= 0x318f) || // hangul compatibility jamo
    (cp >= 0x3000 && cp <= 0x303f) || // CJK symbols and punctuation
    (cp >= 0xff01 && cp <= 0xff60) // full-width forms
  );
}

/** Counts of one text: CJK code points and other code points. */
export function countChars(text: string): { cjk: number; other: number } {
  let cjk = 0;
  let other = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = (cp - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (cp < 0x1100) other++;
    else if (isCjkCodePoint(cp)) cjk++;
    else other++;
  }
  return { cjk, other };
}

/** Estimated tokens of a plain text: CJK characters + other characters / 4 (rounded up). */
export function estimateTextTokens(text: string): number {
  if (!text) return 0;
  const { cjk, other } = countChars(text);
  return cjk + Math.ceil(other / 4);
}

/** Estimated tokens of a JSON-able value (tool definitions, tool calls): its JSON text. */
export function estimateJsonTokens(value: unknown): number {
  if (value === undefined || value === null) return 0;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return 0;
  }
  return json ? estimateTextTokens(json) : 0;
}
