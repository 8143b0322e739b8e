/**
 * A real Node-RED 4.1 process with this package linked into its user dir, for
 * end-to-end tests. The implementation is shared with the demo (tools/nodered-launcher).
 */
export { startNodeRed, prepareUserDir, httpRequest } from '../../tools/nodered-launcher';
export type { NodeRedInstance, NodeRedOptions, HttpResult } from '../../tools/nodered-launcher';
