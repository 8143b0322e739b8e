/**
 * Keeping credentials out of everything a user can see: messages, statuses, logs,
 * error objects. axios errors carry the request config (headers included) and the
 * response body; sanitizeError() copies only safe fields into a fresh Error.
 */

const MIN_SECRET_LENGTH = 4;
const REDACTED = '[redacted]';

/** Header names whose values are always secret. */
const SECRET_HEADER = /^(authorization|proxy-authorization|x-api-key|api-key|new-api-user|cookie|set-cookie)$/i;

/** Replaces every occurrence of each secret in `text`. */
export function redactText(text: string, secrets: Array<string | undefined | null>): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < MIN_SECRET_LENGTH) continue;
    out = out.split(s).join(REDACTED);
  }
  // Bearer tokens and sk- style keys that we were not told about.
  out = out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${REDACTED}`);
  out = out.replace(/\bsk-[A-Za-z0-9_-]{8,}/g, REDACTED);
  // Passwords inside URLs (Redis URLs with a password, basic-auth URLs).
  out = out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]*):([^@/\s]+)@/gi, `$1$2:${REDACTED}@`);
  return out;
}

/** Deeply copies `value`, redacting secrets in strings and dropping secret headers. */
export function redactValue<T>(value: T, secrets: Array<string | undefined | null>, depth = 0): T {
  if (depth > 20) return value;
  if (typeof value === 'string') return redactText(value, secrets) as unknown as T;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets, depth + 1)) as unknown as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (SECRET_HEADER.test(k) || /^(key|api_?key|access_?token|password|secret)$/i.test(k)) {
        out[k] = typeof v === 'string' && v === '' ? '' : REDACTED;
      } else {
        out[k] = redactValue(v, secrets, depth + 1);
      }
    }
    return out as T;
  }
  return value;
}

export interface SafeError extends Error {
  code?: string;
  status?: number;
}

/**
 * A new Error holding only a redacted message, a code and an HTTP status.
 * Never carries config, request, response, headers or the original error.
 */
export function sanitizeError(err: unknown, secrets: Array<string | undefined | null> = []): SafeError {
  const source = (err && typeof err === 'object' ? err : {}) as {
    message?: unknown;
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown };
    name?: unknown;
  };
  const rawMessage =
    typeof err === 'string' ? err : typeof source.message === 'string' ? source.message : String(err ?? 'unknown error');
  const safe: SafeError = new Error(redactText(rawMessage, secrets));
  if (typeof source.name === 'string' && source.name !== 'AxiosError' && source.name !== 'Error') safe.name = source.name;
  if (typeof source.code === 'string') safe.code = source.code;
  const status =
    typeof source.status === 'number' ? source.status : typeof source.response?.status === 'number' ? source.response.status : undefined;
  if (status !== undefined) safe.status = status;
  // Stack traces can quote the message; rebuild from the redacted one.
  safe.stack = `${safe.name}: ${safe.message}`;
  return safe;
}
