/**
 * OpenAI's error shape for failures of the router, so a flow exposing
 * /v1/chat/completions answers any OpenAI client the way it expects:
 * HTTP status + `{"error": {"message", "type", "code", "param"}}`.
 *
 * | code (msg.error.code)                    | HTTP | type                  |
 * |------------------------------------------|------|-----------------------|
 * | invalid_input, invalid_request           | 400  | invalid_request_error |
 * | queue_full, queue_timeout                | 429  | rate_limit_error      |
 * | budget_exhausted                         | 429  | insufficient_quota    |
 * | all_candidates_failed, all_breakers_open | 503  | server_error          |
 * | closed                                   | 503  | server_error          |
 * | deadline_exceeded                        | 504  | timeout_error         |
 * | no_candidates, internal, anything else   | 500  | server_error          |
 */

export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string; param: null };
}

const MAP: Record<string, { status: number; type: string }> = {
  invalid_input: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  queue_full: { status: 429, type: 'rate_limit_error' },
  queue_timeout: { status: 429, type: 'rate_limit_error' },
  budget_exhausted: { status: 429, type: 'insufficient_quota' },
  all_candidates_failed: { status: 503, type: 'server_error' },
  all_breakers_open: { status: 503, type: 'server_error' },
  closed: { status: 503, type: 'server_error' },
  deadline_exceeded: { status: 504, type: 'timeout_error' },
};

/**
 * The HTTP status and body for a failure `code`. `message` is what the client
 * reads (the friendly text, or for invalid requests what is wrong).
 * `upstreamStatus` keeps a 4xx the upstream gave for an invalid request (413, 422).
 */
export function openAiError(code: string, message: string, upstreamStatus?: number): { status: number; body: OpenAiErrorBody; retryAfterS?: number } {
  const m = MAP[code] ?? { status: 500, type: 'server_error' };
  let status = m.status;
  if (code === 'invalid_request' && upstreamStatus !== undefined && upstreamStatus >= 400 && upstreamStatus < 500 && upstreamStatus !== 429) status = upstreamStatus;
  const out: { status: number; body: OpenAiErrorBody; retryAfterS?: number } = {
    status,
    body: { error: { message, type: m.type, code, param: null } },
  };
  // a hint for clients that retry (the openai client honours Retry-After); none for a spent budget
  if (code === 'queue_full' || code === 'queue_timeout') out.retryAfterS = 1;
  else if (status === 503) out.retryAfterS = 5;
  return out;
}
