import type { DoneFn, Node, NodeMessage, SendFn } from './node-red-types';
import { sanitizeError } from '../../engine/secrets/redact';

export type InputHandler = (msg: NodeMessage, send: SendFn) => Promise<void> | void;

/**
 * Registers an input handler that always ends in exactly one `done()` or `done(err)`.
 * Synchronous throws and rejected promises both become `done(err)` (which reaches
 * Catch nodes); the error is sanitised first so no credential can leak through it.
 * `secrets` returns the credentials in force, checked at error time.
 */
export function onInput(node: Node, handler: InputHandler, secrets: () => Array<string | undefined> = () => []): void {
  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
    let finished = false;
    const finish = (err?: unknown): void => {
      if (finished) return;
      finished = true;
      if (err === undefined) done();
      else done(sanitizeError(err, secrets()));
    };
    try {
      const result = handler(msg, send);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(
          () => finish(),
          (err: unknown) => finish(err ?? new Error('unknown error')),
        );
      } else {
        finish();
      }
    } catch (err) {
      finish(err ?? new Error('unknown error'));
    }
  });
}
