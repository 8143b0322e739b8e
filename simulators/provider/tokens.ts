// Token estimation used by the provider simulator: CJK characters count about
// one token each, other text about four characters per token. Cheap enough to
// run on every request.

/** True for code units of CJK ideographs, kana, hangul and full-width forms. */
export function isCjkCode(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) || // CJK unified ideographs
    (c >= 0x3400 && c <= 0x4dbf) || // extension A
    (c >= 0x3000 && c <= 0x30ff) || // CJK punctuation, hiragana, katakana
    (c >= 0xac00 && c <= 0xd7af) || // hangul syllables
    (c >= 0xf900 && c <= 0xfaff) || // compatibility ideographs
    (c >= 0xff00 && c <= 0xffef) // full-width forms
  );
}

/** Estimated tokens of a piece of text. */
export function estimateTokens(text: string): number {
  let cjk = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    if (isCjkCode(text.charCodeAt(i))) cjk++;
    else other++;
  }
  return cjk + Math.ceil(other / 4);
}

/** The longest prefix of `text` whose estimate stays within `maxTokens`. */
export function truncateToTokens(text: string, maxTokens: number): string {
  if (maxTokens <= 0) return '';
  let cjk = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    if (isCjkCode(text.charCodeAt(i))) cjk++;
    else other++;
    if (cjk + Math.ceil(other / 4) > maxTokens) return text.slice(0, i);
  }
  return text;
}

/** The text of one message's `content` (a string, or an array of content parts). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const part of content) {
      if (typeof part === 'string') out += part;
      else if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
        out += (part as { text: string }).text;
      }
    }
    return out;
  }
  return '';
}

/** Per-message overhead added to the prompt estimate (role markers and separators). */
export const MESSAGE_OVERHEAD_TOKENS = 3;

/**
 * Estimated prompt tokens of an OpenAI `messages` array: the content of every
 * message plus MESSAGE_OVERHEAD_TOKENS per message.
 */
export function estimatePromptTokens(messages: readonly unknown[]): number {
  let total = 0;
  for (const m of messages) {
    total += MESSAGE_OVERHEAD_TOKENS;
    if (m && typeof m === 'object') total += estimateTokens(contentText((m as { content?: unknown }).content));
  }
  return total;
}
