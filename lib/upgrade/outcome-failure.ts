import { AuthenticationError, SecretError, UpstreamError } from '../errors.ts';
import { ERROR_CODES } from './error-codes.ts';
import type { OutcomeError } from './outcome.ts';

/**
 * Failures before TaurusDB ran the upgrade (credentials unreadable, IAM refused, connection refused,
 * throttled past the retry budget) are reported but not stored: a redelivery may try again. Failures
 * after the request may have run (5xx, timeout after sending, unreadable 200) and TaurusDB's own 4xx
 * refusals are stored, so a redelivery republishes them instead of calling a second time.
 */
export function failureOf(error: unknown, context = ''): { error: OutcomeError; retryable: boolean } {
  if (error instanceof UpstreamError) {
    return {
      error: {
        ...(error.status === undefined ? {} : { status: error.status }),
        ...(error.errorCode === undefined ? {} : { error_code: error.errorCode }),
        error_msg: `${context}${error.errorMsg ?? error.message}`,
      },
      retryable: !error.mayHaveRun,
    };
  }
  if (error instanceof AuthenticationError) {
    return {
      error: { error_code: ERROR_CODES.authenticationFailed, error_msg: error.message },
      retryable: true,
    };
  }
  if (error instanceof SecretError) {
    return {
      error: { error_code: ERROR_CODES.credentialsUnavailable, error_msg: error.message },
      retryable: true,
    };
  }
  throw error;
}
