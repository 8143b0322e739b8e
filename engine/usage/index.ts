export * from './normalize';
export * from './window';
export * from './fetch';
