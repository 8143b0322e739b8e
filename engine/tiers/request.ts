/**
 * Reads what the classifier needs from a request: the messages of an OpenAI chat
 * request body (or a plain string, taken as one user message), the text of the last
 * user message, the request parameters, and the estimated prompt tokens.
 */
import { IMAGE_PART_TOKENS, MESSAGE_OVERHEAD_TOKENS, REQUEST_OVERHEAD_TOKENS, estimateJsonTokens, estimateTextTokens } from './estimate';

/** A request the classifier cannot read. The message says what is wrong and what is expected. */
export class TierInputError extends Error {
  readonly code = 'TIER_BAD_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'TierInputError';
  }
}

export interface ParsedRequest {
  /** the request body when the input was an object, else null */
  body: Record<string, unknown> | null;
  /** number of chat messages read */
  messageCount: number;
  /** text of the last message whose role is "user" ('' when there is none) */
  lastUserText: string;
  /** estimated prompt tokens: messages, their overhead, tool definitions */
  estimatedTokens: number;
}

const EXPECTED = 'expected an OpenAI chat request body ({messages: [...]}) or a string';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text of a message's content, and its estimated tokens. Throws TierInputError on content of a wrong type. */
function readContent(content: unknown, where: string): { text: string; tokens: number } {
  if (content === undefined || content === null) return { text: '', tokens: 0 };
  if (typeof content === 'string') return { text: content, tokens: estimateTextTokens(content) };
  if (Array.isArray(content)) {
    const texts: string[] = [];
    let tokens = 0;
    for (let i = 0; i < content.length; i++) {
      const part: unknown = content[i];
      if (typeof part === 'string') {
        texts.push(part);
        tokens += estimateTextTokens(part);
        continue;
      }
      if (!isRecord(part)) throw new TierInputError(`${where}.content[${i}] must be a content part object, got ${describe(part)}`);
      const type = part.type;
      if ((type === 'text' || type === 'input_text' || type === undefined) && typeof part.text === 'string') {
        texts.push(part.text);
        tokens += estimateTextTokens(part.text);
      } else if (type === 'image_url' || type === 'input_image' || type === 'image') {
        tokens += IMAGE_PART_TOKENS;
      } else if (type === 'text' || type === 'input_text') {
        throw new TierInputError(`${where}.content[${i}].text must be a string, got ${describe(part.text)}`);
      } else {
        // audio, files, refusals, unknown part types: count their JSON, keep no text
        tokens += estimateJsonTokens(part);
      }
    }
    return { text: texts.join('\n'), tokens };
  }
  throw new TierInputError(`${where}.content must be a string or an array of content parts, got ${describe(content)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Parses msg.payload: a string (one user message), an OpenAI chat request body with
 * `messages`, a completions body with `prompt`, or a bare array of messages.
 * Throws TierInputError for anything else.
 */
export function parseRequest(payload: unknown): ParsedRequest {
  if (typeof payload === 'string') {
    return {
      body: null,
      messageCount: 1,
      lastUserText: payload,
      estimatedTokens: REQUEST_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS + estimateTextTokens(payload),
    };
  }
  if (payload === undefined || payload === null) throw new TierInputError(`msg.payload is missing: ${EXPECTED}`);
  let body: Record<string, unknown> | null = null;
  let messages: unknown;
  if (Array.isArray(payload)) {
    messages = payload;
  } else if (isRecord(payload)) {
    body = payload;
    if (payload.messages !== undefined) messages = payload.messages;
    else if (typeof payload.prompt === 'string') messages = [{ role: 'user', content: payload.prompt }];
    else if (Array.isArray(payload.prompt) && payload.prompt.every((p) => typeof p === 'string'))
      messages = [{ role: 'user', content: (payload.prompt as string[]).join('\n') }];
    else throw new TierInputError(`msg.payload has no "messages": ${EXPECTED}`);
  } else {
    throw new TierInputError(`msg.payload is ${describe(payload)}: ${EXPECTED}`);
  }
  if (!Array.isArray(messages)) throw new TierInputError(`msg.payload.messages must be an array, got ${describe(messages)}`);

  let tokens = REQUEST_OVERHEAD_TOKENS;
  let lastUserText = '';
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    const where = `msg.payload.messages[${i}]`;
    if (!isRecord(m)) throw new TierInputError(`${where} must be an object with role and content, got ${describe(m)}`);
    const { text, tokens: contentTokens } = readContent(m.content, where);
    tokens += MESSAGE_OVERHEAD_TOKENS + contentTokens;
    if (typeof m.name === 'string') tokens += estimateTextTokens(m.name);
    if (m.tool_calls !== undefined) tokens += estimateJsonTokens(m.tool_calls);
    if (m.function_call !== undefined) tokens += estimateJsonTokens(m.function_call);
    if (m.role === 'user') lastUserText = text;
  }
  if (body) {
    // Anthropic-style top-level system prompt, and tool / function definitions
    if (typeof body.system === 'string') tokens += estimateTextTokens(body.system);
    else if (Array.isArray(body.system)) tokens += readContent(body.system, 'msg.payload.system').tokens;
    if (body.tools !== undefined) tokens += estimateJsonTokens(body.tools);
    if (body.functions !== undefined) tokens += estimateJsonTokens(body.functions);
  }
  return { body, messageCount: messages.length, lastUserText, estimatedTokens: tokens };
}
