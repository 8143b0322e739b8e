export {
  LlmError,
  isLlmError,
  classifyHttp,
  classifyException,
  parseRetryAfter,
  upstreamErrorInfo,
  type LlmErrorCode,
  type LlmErrorInit,
} from './classify';
