/** One figure a bench module reports; bench/index.ts prints them next to their baselines and targets. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  target?: string;
}
