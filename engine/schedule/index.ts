export * from './schedule';
export * from './reset';
