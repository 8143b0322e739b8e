/** Running LLM requests over candidate lists: retries, fallbacks, breakers, queueing. */
export {
  FallbackExecutor,
  DEFAULT_FRIENDLY_MESSAGE,
  DEFERRED_COMPLETION,
  PlanRejection,
  candidatePrice,
  type DeferredCompletion,
  type AttemptRecord,
  type ExecFailure,
  type ExecOutcome,
  type ExecRequest,
  type ExecSuccess,
  type ExecutorHooks,
  type ExecutorOptions,
  type ExecutorStats,
  type FailureCode,
  type ResolvedCandidate,
  type Usage,
} from './executor';
export {
  RequestInputError,
  normalizeChatRequest,
  estimatePromptTokens,
  requestedCompletionTokens,
  readRoute,
  readPriority,
  type ChatRequest,
  type RouteEntry,
} from './request';
export { WaitQueue } from './wait-queue';
export { ChatStream, streamingSend, isChatStream, completionToChunks, type ChatCompletionChunk, type StreamSummary, type StreamSendOptions } from './stream';
export { openAiError, type OpenAiErrorBody } from './openai';
