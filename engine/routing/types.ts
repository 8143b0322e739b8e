/**
 * Shapes shared by tier-router, llm-call-with-fallback, llm-provider and the dashboard.
 */

/** One entry of msg.route: which provider account to call with which model. */
export interface RouteCandidate {
  /** the llm-provider config node's id, or its name */
  provider: string;
  /** the model name as the flow knows it (the provider may map it) */
  model: string;
}

export type BreakerState = 'closed' | 'open' | 'halfOpen';

/** A point-in-time view of one provider account, for status text and dashboards. */
export interface ProviderSnapshot {
  /** llm-provider config node id */
  id: string;
  /** its name (the account label users see) */
  name: string;
  /** requests started in the last minute (of the account's limiter) */
  rpmUsed: number;
  /** requests per minute allowed; null = unlimited */
  rpmLimit: number | null;
  inFlight: number;
  maxConcurrent: number | null;
  queued: number;
  /** one entry per model the account serves */
  breakers: Array<{ model: string; state: BreakerState; failures: number }>;
  /** health probe result, when a probe is configured */
  healthy: boolean | null;
  /** shared limits through Redis, when configured: 'connected' | 'local-fallback' | null */
  shared: 'connected' | 'local-fallback' | null;
  /** rolling figures for dashboards */
  successRate: number | null;
  p50LatencyMs: number | null;
}
