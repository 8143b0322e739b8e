/**
 * Dashboard formatters: Dashboard 1 (node-red-dashboard 3.x) ui_chart / ui_table / ui_gauge
 * inputs built from usage-fetch rows, quota-check reports and alerts, and provider snapshots.
 */
export * from './types';
export * from './normalize';
export * from './charts';
export * from './tables';
export * from './board';
export * from './feed';
export * from './providers';
