import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { Context } from 'aws-lambda';
import { upstreamSignal } from '../lib/aws/deadline-reserve.ts';
import { createDependencies, type Dependencies } from '../lib/composition/upgrade-function.ts';
import { loadConfig } from '../lib/config.ts';
import { upgradeAnswer } from '../lib/http/answers.ts';
import authentication from '../lib/http/middleware/authentication.ts';
import errorResponse from '../lib/http/middleware/error-response.ts';
import httpOnly from '../lib/http/middleware/http-only.ts';
import { recogniseTrigger, triggerKeysOf } from '../lib/http/triggers.ts';
import { logger, metrics } from '../lib/observability.ts';
import { assertDeferralOrigin, assertServedRegions, parseUpgradeDelivery } from '../lib/upgrade/request.ts';
import { correlationKeys } from '../lib/upgrade/trigger.ts';

/** The handler around its collaborators; `handler` below is this with the production ones. */
export function createHandler(dependencies: Dependencies) {
  return middy()
    .use(errorResponse({ logger, correlate: triggerKeysOf }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { throwOnEmptyMetrics: false }))
    .use(httpOnly(httpHeaderNormalizer()))
    .use(httpOnly(authentication({ verifier: dependencies.webhookVerifier })))
    .use(httpOnly(httpJsonBodyParser()))
    .handler(async (event: unknown, context: Context) => {
      const delivery = recogniseTrigger(event);
      logger.appendKeys(triggerKeysOf(event));
      const parsed = parseUpgradeDelivery(delivery.payload);
      assertDeferralOrigin(delivery.kind, parsed);
      assertServedRegions(parsed, dependencies.servesRegion);
      const { requests, batch } = parsed;
      logger.appendKeys(correlationKeys(delivery, requests, { requestId: context.awsRequestId }));
      dependencies.idempotency.registerLambdaContext(context);
      // Stop waiting for TaurusDB early enough to store and publish what came back before Lambda's
      // own timeout (lib/aws/deadline-reserve.ts).
      const signal = upstreamSignal(context.getRemainingTimeInMillis(), dependencies.awsCalls);
      const reports = await dependencies.upgrades.run(requests, delivery, {
        requestId: context.awsRequestId,
        signal,
      });
      return upgradeAnswer(delivery, reports, context.awsRequestId, { batch });
    });
}

// Read once per container: a bad environment fails the cold start, naming the variable.
const config = loadConfig();
if (config.idempotencyTable === undefined) {
  logger.warn(
    'IDEMPOTENCY_TABLE is not set: duplicate suppression is off, a redelivery calls TaurusDB again',
  );
}

export const handler = createHandler(createDependencies(config));
