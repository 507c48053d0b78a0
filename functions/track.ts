import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { upstreamSignal } from '../lib/aws/deadline-reserve.ts';
import { createTrackingDependencies, type TrackingDependencies } from '../lib/composition/track-function.ts';
import { mapWithConcurrency } from '../lib/concurrency.ts';
import { loadTrackingConfig } from '../lib/config.ts';
import { UnknownEventError, ValidationError } from '../lib/errors.ts';
import errorResponse from '../lib/http/middleware/error-response.ts';
import { logger, metrics } from '../lib/observability.ts';
import {
  parseTrackedMessage,
  TRACKED_DETAIL_TYPES,
  type TrackedUpgrade,
  trackedFromAccepted,
  trackedFromUnconfirmed,
} from '../lib/tracking/message.ts';
import { type CheckReport, trackedLogKeys } from '../lib/tracking/tracker.ts';

/**
 * Follows each accepted upgrade's workflow, and each unconfirmed upgrade's proxy version, to its end
 * (lib/tracking/tracker.ts). Two triggers:
 * - the EventBridge rule for `Proxy Upgrade Accepted` and `Proxy Upgrade Unconfirmed` from this
 *   service's own source: the first check, straight away. A failure throws, so Lambda's asynchronous
 *   retries and then the onFailure queue take over;
 * - the tracking queue's event source mapping: the re-checks, each message a due check. Failures are
 *   reported per record (ReportBatchItemFailures), so only those messages come back after the
 *   visibility timeout, and one that keeps failing (or cannot be read at all) is moved to the
 *   dead-letter queue by the queue's redrive policy. Nothing is dropped here.
 */

export type TrackResult =
  | SQSBatchResponse
  | { follow: CheckReport['follow']; workflow_id: string | null; attempt: number; outcome: string };

function isSqsEvent(event: unknown): event is { Records: SQSRecord[] } {
  const records = (event as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((record) => (record as { eventSource?: unknown })?.eventSource === 'aws:sqs')
  );
}

/** The first check's state, once it is certain that this is an event published by this service to start one. */
function trackedFromEvent(event: unknown, eventSource: string): TrackedUpgrade {
  const envelope = (event ?? {}) as Record<string, unknown>;
  if (envelope.source === eventSource) {
    if (envelope['detail-type'] === TRACKED_DETAIL_TYPES.accepted)
      return trackedFromAccepted(envelope.detail);
    if (envelope['detail-type'] === TRACKED_DETAIL_TYPES.unconfirmed) {
      return trackedFromUnconfirmed(envelope.detail);
    }
  }
  throw new UnknownEventError(
    `the tracker takes "${TRACKED_DETAIL_TYPES.accepted}" and "${TRACKED_DETAIL_TYPES.unconfirmed}" events from source ${eventSource} or messages of its tracking queue`,
  );
}

function describe(report: CheckReport) {
  return {
    follow: report.follow,
    workflow_id: report.workflowId,
    attempt: report.attempt,
    outcome: report.outcome.kind,
  };
}

/** The handler around its collaborators; `handler` below is this with the production ones. */
export function createHandler(dependencies: TrackingDependencies) {
  const { tracker } = dependencies;

  async function checkRecords(records: SQSRecord[], signal: AbortSignal): Promise<SQSBatchResponse> {
    const failures = await mapWithConcurrency(
      records,
      dependencies.concurrency,
      async (record): Promise<SQSBatchItemFailure | undefined> => {
        try {
          if (signal.aborted) throw new Error('no time left in this invocation');
          const report = await tracker.check(parseTrackedMessage(record.body), signal);
          logger.debug('message checked', { message_id: record.messageId, ...describe(report) });
          return undefined;
        } catch (error) {
          const unreadable = error instanceof ValidationError;
          logger.error(
            unreadable
              ? 'message cannot be tracked; failed so that the redrive policy moves it to the dead-letter queue'
              : 'check failed; the message comes back after its visibility timeout',
            {
              message_id: record.messageId,
              receive_count: record.attributes?.ApproximateReceiveCount,
              error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
            },
          );
          return { itemIdentifier: record.messageId };
        }
      },
    );
    return { batchItemFailures: failures.filter((failure) => failure !== undefined) };
  }

  return middy()
    .use(errorResponse({ logger }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { throwOnEmptyMetrics: false }))
    .handler(async (event: unknown, context: Context): Promise<TrackResult> => {
      // Time kept back from the Lambda timeout to publish or queue what a check found.
      const signal = upstreamSignal(context.getRemainingTimeInMillis(), dependencies.awsCalls);
      if (isSqsEvent(event)) return checkRecords(event.Records, signal);
      // One upgrade per first check: every line of the invocation names it (reset afterwards). A
      // batch of re-checks runs several at once, so there each line carries its own (tracker.ts).
      const tracked = trackedFromEvent(event, dependencies.eventSource);
      logger.appendKeys(trackedLogKeys(tracked));
      return describe(await tracker.check(tracked, signal));
    });
}

// Read once per container: a bad environment fails the cold start, naming the variable.
export const handler = createHandler(createTrackingDependencies(loadTrackingConfig()));
