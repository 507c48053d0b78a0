import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { HttpError } from '@middy/util';
import { AppError } from '../../errors.ts';
import { errorResponse } from '../answers.ts';
import { isHttpEvent } from '../http-event.ts';

type ErrorLogger = Pick<Logger, 'warn' | 'error'>;

/**
 * Last stop for every error. HTTP callers get the mapped JSON answer (lib/http/answers.ts); any other
 * trigger gets the error rethrown, so the invocation fails and Lambda's retry and failure destination
 * take over. Either way the error is logged once, refusals as warnings and faults as errors.
 */
export default function errorResponseMiddleware({
  logger,
  correlate = () => ({}),
}: {
  logger: ErrorLogger;
  /**
   * The correlation keys of the event (functions/upgrade.ts: trigger kind and delivery id). This
   * middleware runs last, after Powertools has reset the keys the handler appended (resetKeys), so
   * its own line names the delivery itself.
   */
  correlate?: (event: unknown) => Record<string, unknown>;
}): MiddlewareObj {
  return {
    name: 'errorResponse',
    onError: (request) => {
      const { error } = request;
      const refusal =
        (error instanceof AppError && error.expose && error.statusCode < 500) ||
        (error instanceof HttpError && error.statusCode < 500);
      const keys = correlate(request.event);
      if (refusal)
        logger.warn('request refused', { ...keys, error: { name: error.name, message: error.message } });
      else
        logger.error('request failed', {
          ...keys,
          error: error instanceof Error ? error : new Error(String(error)),
        });
      if (!isHttpEvent(request.event)) return undefined;
      return errorResponse(error, request.context.awsRequestId);
    },
  };
}
