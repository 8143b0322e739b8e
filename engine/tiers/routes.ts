/** The per-tier candidate chains of a tier-router (msg.route for each tier). */
import type { RouteCandidate } from '../routing/types';

/** Reads the per-tier candidate chains; problems are reported and the bad entries left out. */
export function readTierRoutes(raw: unknown, tiers: number): { routes: RouteCandidate[][]; errors: string[] } {
  const routes: RouteCandidate[][] = Array.from({ length: tiers }, () => []);
  const errors: string[] = [];
  if (raw === undefined || raw === null || raw === '') return { routes, errors };
  if (!Array.isArray(raw)) return { routes, errors: ['candidate chains must be a list per tier'] };
  raw.forEach((chain: unknown, t) => {
    if (t >= tiers) {
      if (Array.isArray(chain) && chain.length > 0) errors.push(`candidates configured for tier ${t + 1}, but there are only ${tiers} tiers`);
      return;
    }
    if (!Array.isArray(chain)) {
      errors.push(`tier ${t + 1}: candidates must be a list`);
      return;
    }
    chain.forEach((c: unknown, i) => {
      const rec = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
      const provider = typeof rec.provider === 'string' ? rec.provider.trim() : '';
      const model = typeof rec.model === 'string' ? rec.model.trim() : '';
      if (!provider || !model) errors.push(`tier ${t + 1} candidate ${i + 1} needs a provider and a model`);
      else routes[t].push({ provider, model });
    });
  });
  return { routes, errors };
}
