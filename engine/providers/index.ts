/** Provider accounts (llm-provider), their HTTP transport and the process-wide registry. */
export {
  ProviderAccount,
  type ProviderAccountConfig,
  type ModelSpec,
  type BreakerSettings,
  type HealthProbeSettings,
  type SkipReason,
  type AttemptResult,
  type AttemptOptions,
  type AbortLike,
  type AccountEvent,
} from './account';
export { ProviderRegistry, providerRegistry, type RegistryEvent } from './registry';
export {
  createHttpClient,
  normalizeBaseUrl,
  parseChatCompletion,
  completionText,
  sendChatCompletion,
  type ChatCompletion,
  type ChatMessage,
  type ChatUsage,
  type SendContext,
  type SendFn,
  type HttpClient,
} from './transport';
