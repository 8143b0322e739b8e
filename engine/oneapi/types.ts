/**
 * Shapes shared by the One API / new-api admin client, the quota engine and the nodes.
 * See the admin API reference for the wire formats these are normalised from.
 */

export type Flavour = 'one-api' | 'new-api';
export type FlavourSetting = Flavour | 'detect';

export interface OneApiClientOptions {
  /** e.g. http://127.0.0.1:3000 (a trailing slash is tolerated) */
  baseUrl: string;
  flavour: FlavourSetting;
  /** the admin access token (from GET /api/user/token), never a relay sk- key */
  accessToken: string;
  /** new-api user id for the New-Api-User header (ignored by one-api and new-api >= 2026-07-20) */
  userId?: string | number;
  timeoutMs?: number;
  /** log intended writes, perform none */
  dryRun?: boolean;
  /** called with a human-readable line for each write skipped in dry run */
  onDryRun?: (line: string) => void;
}

/** A channel as the nodes see it (SPEC §2 usage-fetch msg.channels). */
export interface Channel {
  id: number;
  name: string;
  models: string[];
  /** null in the database is reported as 0 */
  priority: number;
  weight: number;
  /** 0 unknown, 1 enabled, 2 manually disabled, 3 auto-disabled */
  status: number;
  group?: string;
  tag?: string | null;
  responseTimeMs?: number;
  testTime?: number;
  balance?: number;
  usedQuota?: number;
}

export interface ServerStatus {
  flavour: Flavour;
  version: string;
  /** quota units per USD (default 500000) */
  quotaPerUnit: number;
}

/** one-api GET /api/user/dashboard row (keys are Go field names) */
export interface OneApiDashboardRow {
  Day: string;
  ModelName: string;
  RequestCount: number;
  Quota: number;
  PromptTokens: number;
  CompletionTokens: number;
}

/** new-api GET /api/data/ hourly row */
export interface QuotaDataRow {
  model_name: string;
  created_at: number;
  token_used: number;
  count: number;
  quota: number;
  [extra: string]: unknown;
}

/** Result of one priority / status write. Never carries a response body. */
export interface WriteResult {
  id: number;
  field: 'priority' | 'weight' | 'status';
  old: number | null;
  value: number;
  dryRun: boolean;
  verified?: boolean;
}

/** Errors the admin client raises; `code` lets nodes react without parsing text. */
export type OneApiErrorCode =
  | 'UNAUTHORIZED' // 401, or success:false "access token 无效"
  | 'FORBIDDEN' // 403 or insufficient role
  | 'NOT_FOUND' // unknown channel / route
  | 'RATE_LIMITED' // HTTP 429 with empty body
  | 'API_ERROR' // success:false with another message
  | 'BAD_RESPONSE' // unparseable or unexpected shape
  | 'UNREACHABLE' // connection refused / DNS / reset
  | 'TIMEOUT'
  | 'BAD_CONFIG';
