export * from './pricing';
export * from './budget';
