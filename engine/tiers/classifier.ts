/**
 * The tier classifier: ordered, explainable rules, first match wins.
 *
 * An explicit tier (msg.tier) always comes first when it is valid. Then each rule is
 * tried in order; the first that matches decides the tier, and the decision carries
 * a human-readable reason naming the rule and what matched. When nothing matches,
 * the default tier applies. Rules that cannot be compiled (bad regex, bad timezone,
 * tier out of range ...) are reported in `errors` and left out; the others keep working.
 */
import { isValidTimeZone, zonedParts } from '../time/zoned';
import { parseRequest } from './request';

export const MAX_TIERS = 9;

export type TierRuleType = 'long-context' | 'tokens-above' | 'tokens-below' | 'keyword' | 'regex' | 'params' | 'time';

export const TIER_RULE_TYPES: readonly TierRuleType[] = ['long-context', 'tokens-above', 'tokens-below', 'keyword', 'regex', 'params', 'time'];

/**
 * One rule as configured.
 * - long-context / tokens-above: value = N; matches when estimated prompt tokens > N
 * - tokens-below: value = N; matches when estimated prompt tokens < N
 * - keyword: value = keywords separated by "|", case-insensitive, on the last user message;
 *   a keyword that starts (ends) with a Latin letter or digit must start (end) a word: "hi" does not
 *   match "this" or "high"; Chinese, Japanese and Korean keywords match anywhere
 * - regex: value = a pattern (case-insensitive) or /pattern/flags, on the last user message
 * - params: value = parameter names separated by "," or "|"; matches when the request body
 *   carries one of them with a value that is not null, false, "none", an empty array or {type:"disabled"}
 * - time: value = "HH:MM-HH:MM" (start inclusive, end exclusive, may wrap midnight, "24:00" allowed as end)
 *   in `tz` (IANA name), else the classifier's timezone
 */
export interface TierRule {
  type: TierRuleType;
  value: string;
  tier: number;
  /** shown in reasons; defaults to the type */
  name?: string;
  /** time rules: IANA timezone */
  tz?: string;
}

export interface TierRuleError {
  /** index of the rule in the configured list (-1: not about one rule) */
  index: number;
  message: string;
}

export interface TierDecision {
  tier: number;
  /** human-readable: which rule matched and why */
  reason: string;
  /** the matched rule's name, "explicit" for msg.tier, or "default" */
  rule: string;
  /** index of the matched rule in the configured list; -1 for explicit and default */
  ruleIndex: number;
  estimatedTokens: number;
}

export interface TierClassifierOptions {
  /** ordered rules; defaults to DEFAULT_TIER_RULES */
  rules?: readonly TierRule[];
  /** number of tiers (1..9), default 3 */
  tiers?: number;
  /** tier when no rule matches, default 2 */
  defaultTier?: number;
  /** timezone for time rules without their own, default the system timezone */
  timezone?: string;
  /** clock, for time rules (epoch ms) */
  now?: () => number;
}

export interface ClassifyOptions {
  /** msg.tier: used when it is an integer (or integer string) within 1..tiers */
  explicitTier?: unknown;
}

/**
 * The defaults reproduce the reference plan:
 * tier 1 = complex reasoning, long writing, deep thinking;
 * tier 2 = standard dialogue, code generation (also the default tier and the long-context tier);
 * tier 3 = simple Q&A, quick replies.
 */
export const DEFAULT_TIER_RULES: readonly TierRule[] = Object.freeze([
  { type: 'long-context', value: '60000', tier: 2, name: 'long context' },
  { type: 'params', value: 'reasoning_effort,reasoning,thinking', tier: 1, name: 'thinking' },
  {
    type: 'keyword',
    value:
      '证明|推理|推导|详细分析|深入分析|深度思考|一步一步|逐步|论证|写一篇|长文|报告|論文|証明|推論|詳しく|段階的|증명|추론|prove|proof|derive|step by step|reason through|in-depth|in depth|detailed analysis|analyze|analyse|think deeply|essay|write a report|long-form',
    tier: 1,
    name: 'reasoning',
  },
  { type: 'tokens-above', value: '8000', tier: 1, name: 'long prompt' },
  { type: 'params', value: 'tools,functions', tier: 2, name: 'tools' },
  {
    type: 'regex',
    value:
      '```|\\b(code|function|class|method|bug|debug|compile|refactor|python|javascript|typescript|java|golang|rust|sql|regex|json|api|script|stack ?trace|exception)\\b|代码|函数|编程|程序|报错|调试|脚本|接口|コード|関数|プログラム|코드',
    tier: 2,
    name: 'code',
  },
  { type: 'keyword', value: '翻译|你好|谢谢|是什么|翻訳|こんにちは|ありがとう|안녕|translate|hello|hi|thanks|thank you|what is|define', tier: 3, name: 'simple' },
  { type: 'tokens-below', value: '200', tier: 3, name: 'short prompt' },
]) as readonly TierRule[];

type Matcher = (ctx: MatchContext) => string | null;

interface MatchContext {
  tokens: number;
  text: string;
  body: Record<string, unknown> | null;
  now: number;
}

interface CompiledRule {
  index: number;
  name: string;
  type: TierRuleType;
  tier: number;
  match: Matcher;
}

/** Keyword and regex rules look at most at this many characters (head and tail) of the last user message. */
export const MAX_MATCH_CHARS = 32_768;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseCount(value: string): number | null {
  const v = String(value).trim().replace(/[_,\s]/g, '');
  if (!/^\d+$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

function parseClock(s: string): number | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return null;
  return h * 60 + min;
}

function fmtClock(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}`;
}

function paramPresent(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (typeof v === 'string') return v.trim() !== '' && v.trim().toLowerCase() !== 'none';
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && (v as Record<string, unknown>).type === 'disabled') return false;
  return true;
}

export function systemTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Compiles one rule; returns an error message instead when it cannot be used. */
function compileRule(rule: TierRule, index: number, tiers: number, defaultTz: string): CompiledRule | string {
  if (typeof rule !== 'object' || rule === null) return 'is not an object';
  const type = rule.type;
  if (!TIER_RULE_TYPES.includes(type)) return `has an unknown type "${String(type)}" (use ${TIER_RULE_TYPES.join(', ')})`;
  const name = typeof rule.name === 'string' && rule.name.trim() ? rule.name.trim() : type;
  const tier = typeof rule.tier === 'string' ? Number(rule.tier) : rule.tier;
  if (!Number.isInteger(tier) || tier < 1 || tier > tiers) return `"${name}" sends to tier ${String(rule.tier)}, which is not within 1..${tiers}`;
  const value = rule.value === undefined || rule.value === null ? '' : String(rule.value);
  const base = { index, name, type, tier };

  switch (type) {
    case 'long-context':
    case 'tokens-above':
    case 'tokens-below': {
      const n = parseCount(value);
      if (n === null) return `"${name}" needs a whole number of tokens, got "${value}"`;
      if (type === 'tokens-below')
        return { ...base, match: (c: MatchContext) => (c.tokens < n ? `~${c.tokens} estimated prompt tokens < ${n} (rule "${name}")` : null) };
      const what = type === 'long-context' ? `long-context threshold ${n}` : String(n);
      return { ...base, match: (c: MatchContext) => (c.tokens > n ? `~${c.tokens} estimated prompt tokens > ${what} (rule "${name}")` : null) };
    }
    case 'keyword': {
      const words = value
        .split('|')
        .map((w) => w.trim())
        .filter((w) => w !== '');
      if (words.length === 0) return `"${name}" has no keywords (separate them with "|")`;
      const source = words
        .map((w) => `${/^\w/.test(w) ? '(?<![A-Za-z0-9_])' : ''}${escapeRegExp(w)}${/\w$/.test(w) ? '(?![A-Za-z0-9_])' : ''}`)
        .join('|');
      const re = new RegExp(source, 'i');
      return {
        ...base,
        match: (c: MatchContext) => {
          const m = re.exec(c.text);
          return m ? `keyword "${m[0]}" matched rule "${name}"` : null;
        },
      };
    }
    case 'regex': {
      if (value.trim() === '') return `"${name}" has an empty pattern`;
      let source = value;
      let flags = 'i';
      const slashed = /^\/(.+)\/([a-z]*)$/s.exec(value.trim());
      if (slashed) {
        source = slashed[1];
        flags = slashed[2].replace(/[gy]/g, '');
      }
      let re: RegExp;
      try {
        re = new RegExp(source, flags);
      } catch (err) {
        return `"${name}" has an invalid regular expression: ${(err as Error).message}`;
      }
      const shown = source.length > 60 ? `${source.slice(0, 57)}...` : source;
      return {
        ...base,
        match: (c: MatchContext) => {
          const m = re.exec(c.text);
          if (!m) return null;
          const hit = m[0].length > 40 ? `${m[0].slice(0, 37)}...` : m[0];
          return `pattern /${shown}/ matched "${hit}" in rule "${name}"`;
        },
      };
    }
    case 'params': {
      const names = value
        .split(/[,|\s]+/)
        .map((p) => p.trim())
        .filter((p) => p !== '');
      if (names.length === 0) return `"${name}" lists no request parameters`;
      return {
        ...base,
        match: (c: MatchContext) => {
          if (!c.body) return null;
          const hit = names.find((p) => Object.prototype.hasOwnProperty.call(c.body, p) && paramPresent(c.body![p]));
          return hit ? `request parameter "${hit}" present (rule "${name}")` : null;
        },
      };
    }
    case 'time': {
      const m = /^\s*([0-9:]+)\s*-\s*([0-9:]+)\s*$/.exec(value);
      const start = m ? parseClock(m[1]) : null;
      const end = m ? parseClock(m[2]) : null;
      if (start === null || end === null || start === 24 * 60) return `"${name}" needs a window like 00:00-07:00, got "${value}"`;
      const tz = typeof rule.tz === 'string' && rule.tz.trim() ? rule.tz.trim() : defaultTz;
      if (!isValidTimeZone(tz)) return `"${name}" has an unknown timezone "${tz}" (use an IANA name such as Asia/Shanghai or UTC)`;
      const window = `${fmtClock(start)}-${fmtClock(end)}`;
      return {
        ...base,
        match: (c: MatchContext) => {
          const p = zonedParts(c.now, tz);
          const t = p.hour * 60 + p.minute;
          const inside = start <= end ? t >= start && t < end : t >= start || t < end;
          return inside ? `time ${fmtClock(t)} ${tz} within ${window} (rule "${name}")` : null;
        },
      };
    }
  }
  return `has an unknown type "${String(type)}"`;
}

/** The text keyword and regex rules see: all of it, or its head and tail when it is very long. */
function matchText(text: string): string {
  if (text.length <= MAX_MATCH_CHARS) return text;
  const half = MAX_MATCH_CHARS / 2;
  return `${text.slice(0, half)}\n${text.slice(text.length - half)}`;
}

/** Parses msg.tier: an integer (or integer string) within 1..tiers, else null. */
export function parseExplicitTier(value: unknown, tiers: number): number | null {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) n = Number(value);
  else return null;
  return Number.isInteger(n) && n >= 1 && n <= tiers ? n : null;
}

export class TierClassifier {
  readonly tiers: number;
  readonly defaultTier: number;
  readonly timezone: string;
  /** configuration problems; the rules concerned are left out */
  readonly errors: readonly TierRuleError[];
  private readonly compiled: CompiledRule[];
  private readonly now: () => number;

  constructor(opts: TierClassifierOptions = {}) {
    const errors: TierRuleError[] = [];
    let tiers = opts.tiers === undefined ? 3 : Number(opts.tiers);
    if (!Number.isInteger(tiers) || tiers < 1 || tiers > MAX_TIERS) {
      errors.push({ index: -1, message: `number of tiers must be a whole number within 1..${MAX_TIERS}, got ${String(opts.tiers)}; using 3` });
      tiers = 3;
    }
    this.tiers = tiers;
    let defaultTier = opts.defaultTier === undefined ? Math.min(2, tiers) : Number(opts.defaultTier);
    if (!Number.isInteger(defaultTier) || defaultTier < 1 || defaultTier > tiers) {
      const fallback = Math.min(2, tiers);
      errors.push({ index: -1, message: `default tier must be within 1..${tiers}, got ${String(opts.defaultTier)}; using ${fallback}` });
      defaultTier = fallback;
    }
    this.defaultTier = defaultTier;
    let tz = typeof opts.timezone === 'string' && opts.timezone.trim() ? opts.timezone.trim() : systemTimeZone();
    if (!isValidTimeZone(tz)) {
      errors.push({ index: -1, message: `unknown timezone "${tz}" (use an IANA name such as Asia/Shanghai or UTC); using UTC` });
      tz = 'UTC';
    }
    this.timezone = tz;
    this.now = opts.now ?? Date.now;

    const rules = opts.rules ?? DEFAULT_TIER_RULES;
    this.compiled = [];
    if (!Array.isArray(rules)) {
      errors.push({ index: -1, message: 'rules must be a list' });
    } else {
      rules.forEach((rule, index) => {
        const c = compileRule(rule, index, tiers, tz);
        if (typeof c === 'string') errors.push({ index, message: `rule ${index + 1} ${c}` });
        else this.compiled.push(c);
      });
    }
    this.errors = errors;
  }

  /** The rules in use, in order (invalid ones left out). */
  get rules(): ReadonlyArray<{ index: number; name: string; type: TierRuleType; tier: number }> {
    return this.compiled.map(({ index, name, type, tier }) => ({ index, name, type, tier }));
  }

  /**
   * Decides the tier of one request (msg.payload: an OpenAI chat body or a string).
   * Throws TierInputError when the payload cannot be read and no valid explicit tier is given.
   */
  classify(payload: unknown, opts: ClassifyOptions = {}): TierDecision {
    const explicit = parseExplicitTier(opts.explicitTier, this.tiers);
    let ignored = '';
    if (opts.explicitTier !== undefined && opts.explicitTier !== null && explicit === null) {
      const shown = typeof opts.explicitTier === 'string' ? `"${opts.explicitTier.slice(0, 20)}"` : String(opts.explicitTier).slice(0, 20);
      ignored = `msg.tier ${shown} ignored (not a tier within 1..${this.tiers}); `;
    }
    if (explicit !== null) {
      let estimatedTokens = 0;
      try {
        estimatedTokens = parseRequest(payload).estimatedTokens;
      } catch {
        // the explicit tier needs no payload
      }
      return { tier: explicit, reason: `explicit msg.tier = ${explicit}`, rule: 'explicit', ruleIndex: -1, estimatedTokens };
    }

    const req = parseRequest(payload);
    const ctx: MatchContext = { tokens: req.estimatedTokens, text: matchText(req.lastUserText), body: req.body, now: this.now() };
    for (const rule of this.compiled) {
      const why = rule.match(ctx);
      if (why !== null) return { tier: rule.tier, reason: ignored + why, rule: rule.name, ruleIndex: rule.index, estimatedTokens: req.estimatedTokens };
    }
    return {
      tier: this.defaultTier,
      reason: `${ignored}no rule matched (~${req.estimatedTokens} estimated prompt tokens); default tier ${this.defaultTier}`,
      rule: 'default',
      ruleIndex: -1,
      estimatedTokens: req.estimatedTokens,
    };
  }
}
