/**
 * The subset of the Node-RED runtime API that our node adapters use.
 * Kept small on purpose: the engine never imports this, only nodes/ does.
 */
export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  topic?: string;
  [key: string]: unknown;
}

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export type SendFn = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null> | null) => void;
export type DoneFn = (err?: Error) => void;

export interface NodeContextStore {
  get(key: string, store?: string): unknown;
  get(key: string, store: string | undefined, cb: (err: Error | null, value: unknown) => void): void;
  set(key: string, value: unknown, store?: string, cb?: (err?: Error | null) => void): void;
  keys(store?: string): string[];
}

export interface NodeContext extends NodeContextStore {
  flow: NodeContextStore;
  global: NodeContextStore;
}

export interface Node {
  id: string;
  type: string;
  name?: string;
  z?: string;
  credentials: Record<string, string | undefined>;
  on(event: 'input', listener: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', listener: (removed: boolean, done: () => void) => void): void;
  send(msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null> | null): void;
  status(status: NodeStatus): void;
  log(msg: unknown): void;
  warn(msg: unknown): void;
  error(err: unknown, msg?: NodeMessage): void;
  debug(msg: unknown): void;
  trace(msg: unknown): void;
  context(): NodeContext;
  receive(msg?: NodeMessage): void;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

export interface CredentialsSpec {
  [key: string]: { type: 'text' | 'password' };
}

export interface NodeAPI {
  nodes: {
    createNode(node: Node, def: NodeDef): void;
    registerType(
      type: string,
      ctor: (this: Node, def: NodeDef) => void,
      opts?: { credentials?: CredentialsSpec; settings?: Record<string, { value: unknown; exportable?: boolean }> },
    ): void;
    getNode(id: string): unknown;
    eachNode(cb: (n: NodeDef) => void): void;
  };
  util: {
    cloneMessage<T>(msg: T): T;
    evaluateNodeProperty(
      value: unknown,
      type: string,
      node: Node,
      msg: NodeMessage | undefined,
      cb: (err: Error | null, result: unknown) => void,
    ): void;
    getMessageProperty(msg: NodeMessage, expr: string): unknown;
    setMessageProperty(msg: NodeMessage, expr: string, value: unknown, createMissing?: boolean): boolean;
  };
  settings: Record<string, unknown> & { userDir?: string };
  httpAdmin: unknown;
  httpNode: unknown;
  auth: { needsPermission(permission: string): unknown };
  log: { info(m: unknown): void; warn(m: unknown): void; error(m: unknown): void; debug(m: unknown): void };
  require(name: string): unknown;
  _(key: string, substitutions?: Record<string, unknown>): string;
}
