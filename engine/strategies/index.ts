export * from './metrics';
export * from './rules';
export * from './wrr';
export * from './affinity';
export * from './order';
export * from './planner';
export * from './executor-planning';
