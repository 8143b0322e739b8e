/** Request classification into tiers (used by the tier-router node). */
export {
  TierClassifier,
  DEFAULT_TIER_RULES,
  TIER_RULE_TYPES,
  MAX_TIERS,
  MAX_MATCH_CHARS,
  parseExplicitTier,
  systemTimeZone,
} from './classifier';
export type { TierRule, TierRuleType, TierRuleError, TierDecision, TierClassifierOptions, ClassifyOptions } from './classifier';
export { parseRequest, TierInputError } from './request';
export type { ParsedRequest } from './request';
export {
  estimateTextTokens,
  estimateJsonTokens,
  countChars,
  isCjkCodePoint,
  MESSAGE_OVERHEAD_TOKENS,
  REQUEST_OVERHEAD_TOKENS,
  IMAGE_PART_TOKENS,
} from './estimate';
export { readTierRoutes } from './routes';
