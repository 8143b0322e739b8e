/**
 * tier-router: classifies each request into a tier by ordered rules (engine/tiers) and
 * sends it to that tier's output with msg.tier, msg.route (the tier's candidate chain)
 * and msg.routing (tier, reason, rule, estimatedTokens).
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from '../shared/node-red-types';
import { onInput } from '../shared/input';
import { DebouncedStatus } from '../shared/status';
import { TierClassifier, DEFAULT_TIER_RULES, readTierRoutes, type TierRule } from '../../engine/tiers';

interface TierRouterDef extends NodeDef {
  tiers?: number | string;
  defaultTier?: number | string;
  timezone?: string;
  rules?: unknown;
  routes?: unknown;
}

export = function (RED: NodeAPI): void {
  function TierRouterNode(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const config = def as TierRouterDef;
    const status = new DebouncedStatus(this, 500);

    const rules = Array.isArray(config.rules) ? (config.rules as TierRule[]) : config.rules === undefined ? DEFAULT_TIER_RULES : config.rules;
    const classifier = new TierClassifier({
      tiers: config.tiers === undefined || config.tiers === '' ? 3 : Number(config.tiers),
      defaultTier: config.defaultTier === undefined || config.defaultTier === '' ? undefined : Number(config.defaultTier),
      timezone: config.timezone || undefined,
      rules: rules as TierRule[],
    });
    const { routes, errors: routeErrors } = readTierRoutes(config.routes, classifier.tiers);
    const configErrors = [...classifier.errors.map((e) => e.message), ...routeErrors];
    const counts = new Array<number>(classifier.tiers).fill(0);

    if (configErrors.length > 0) {
      this.error(`${RED._('tier-router.errors.config', { n: configErrors.length })} ${configErrors.join('; ')}`);
      status.now({ fill: 'red', shape: 'ring', text: RED._('tier-router.status.invalid', { n: configErrors.length }) });
    } else {
      status.now({ fill: 'grey', shape: 'ring', text: RED._('tier-router.status.ready', { rules: classifier.rules.length, tiers: classifier.tiers }) });
    }

    onInput(this, (msg: NodeMessage, send) => {
      const decision = classifier.classify(msg.payload, { explicitTier: msg.tier });
      msg.tier = decision.tier;
      msg.route = routes[decision.tier - 1].map((c) => ({ provider: c.provider, model: c.model }));
      msg.routing = { tier: decision.tier, reason: decision.reason, rule: decision.rule, estimatedTokens: decision.estimatedTokens };
      const out: Array<NodeMessage | null> = new Array(classifier.tiers).fill(null);
      out[decision.tier - 1] = msg;
      send(out);
      counts[decision.tier - 1]++;
      status.set({
        fill: configErrors.length > 0 ? 'red' : 'green',
        shape: 'dot',
        text: RED._('tier-router.status.routed', {
          tier: decision.tier,
          rule: decision.rule,
          counts: counts.map((n, i) => `${i + 1}:${n}`).join(' '),
        }),
      });
    });

    this.on('close', (_removed: boolean, done: () => void) => {
      status.clear();
      done();
    });
  }

  RED.nodes.registerType('tier-router', TierRouterNode);
};
