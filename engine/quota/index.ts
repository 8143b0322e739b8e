export * from './allowances';
export * from './evaluate';
export * from './apply';
