/**
 * Prices in USD per million tokens, per provider account and model, and the cost of a request.
 */

export interface Price {
  /** USD per 1 M prompt (input) tokens */
  inPerM: number;
  /** USD per 1 M completion (output) tokens */
  outPerM: number;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

function tokens(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

/** USD cost of `usage` at `price`. Missing or invalid token counts count as 0. */
export function costOf(usage: Partial<TokenUsage>, price: Price): number {
  return (tokens(usage.promptTokens) * price.inPerM + tokens(usage.completionTokens) * price.outPerM) / 1_000_000;
}

/** A price is known when both parts are finite numbers >= 0. */
export function isKnownPrice(p: Partial<Price> | null | undefined): p is Price {
  return !!p && typeof p.inPerM === 'number' && typeof p.outPerM === 'number' &&
    Number.isFinite(p.inPerM) && Number.isFinite(p.outPerM) && p.inPerM >= 0 && p.outPerM >= 0;
}

/** Free = a known price of 0 for both input and output (an unknown price is not free). */
export function isFree(p: Partial<Price> | null | undefined): boolean {
  return isKnownPrice(p) && p.inPerM === 0 && p.outPerM === 0;
}

/**
 * One USD-per-million figure for comparing candidates: input and output prices blended by the
 * expected token mix (3 prompt tokens per completion token unless an estimate says otherwise).
 */
export function blendedPerM(price: Price, mix?: Partial<TokenUsage>): number {
  let pin = tokens(mix?.promptTokens);
  let pout = tokens(mix?.completionTokens);
  if (pin + pout === 0) {
    pin = 3;
    pout = 1;
  }
  return (price.inPerM * pin + price.outPerM * pout) / (pin + pout);
}

export function validatePrice(p: unknown, label = 'price'): Price {
  const o = p as Partial<Price> | null;
  if (!isKnownPrice(o)) throw new Error(`${label}: inPerM and outPerM must be numbers >= 0 (USD per million tokens)`);
  return { inPerM: o.inPerM, outPerM: o.outPerM };
}

/**
 * Prices by provider account and model. Model names match case-insensitively; a model priced
 * for provider '*' applies to every provider without its own entry.
 */
export class PriceTable {
  private readonly prices = new Map<string, Price>();

  set(provider: string, model: string, price: Price): this {
    this.prices.set(PriceTable.key(provider, model), validatePrice(price, `price of ${provider}/${model}`));
    return this;
  }

  get(provider: string, model: string): Price | undefined {
    return this.prices.get(PriceTable.key(provider, model)) ?? this.prices.get(PriceTable.key('*', model));
  }

  delete(provider: string, model: string): boolean {
    return this.prices.delete(PriceTable.key(provider, model));
  }

  /** USD cost of a request, or null when the model has no price. */
  cost(provider: string, model: string, usage: Partial<TokenUsage>): number | null {
    const p = this.get(provider, model);
    return p ? costOf(usage, p) : null;
  }

  entries(): Array<{ provider: string; model: string; price: Price }> {
    return [...this.prices].map(([k, price]) => {
      const i = k.indexOf('\u0000');
      return { provider: k.slice(0, i), model: k.slice(i + 1), price: { ...price } };
    });
  }

  private static key(provider: string, model: string): string {
    return `${provider}\u0000${String(model).toLowerCase()}`;
  }
}
