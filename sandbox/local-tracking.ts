import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { ReceivedEntry } from '../stand-ins/eventbridge.ts';
import { type SentMessage, sqsEvent } from '../stand-ins/sqs.ts';
import { createLambdaContext } from './http-adapter.ts';

/**
 * What AWS does around the tracking function (functions/track.ts), played in the sandbox process:
 * - the EventBridge rule: each `Proxy Upgrade Accepted` or `Proxy Upgrade Unconfirmed` event published under the service's source
 *   invokes the tracker, as the rule's target would;
 * - the tracking queue's event source mapping: each message the tracker sends becomes visible after
 *   its own DelaySeconds (a timer here) and invokes the tracker as a one-record SQS batch; a record it
 *   reports failed comes back after the visibility timeout, until the redrive policy's receive count,
 *   after which it is reported as moved to the dead-letter queue.
 * Invocations run one at a time, as in one execution environment. Nothing outlives `close`.
 */

export type TrackHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalTrackingOptions {
  handler: TrackHandler;
  /** Accepted and Unconfirmed events under this `source` only, as the rule's pattern says. */
  eventSource: string;
  queueArn: (queueName: string) => string;
  region: string;
  /** A failed invocation or a dead letter, for the person at the terminal. */
  log: (text: string) => void;
  /** The queue's visibility timeout, scaled down for the sandbox. */
  visibilityTimeoutMs?: number;
  /** The redrive policy's maxReceiveCount (serverless.yml: 5). */
  maxReceiveCount?: number;
  functionName?: string;
}

export interface LocalTracking {
  /** Give it every published event; it picks the ones the rule would. */
  onPublished(entry: ReceivedEntry): void;
  /** Give it every message sent to the tracking queue. */
  onQueued(message: SentMessage): void;
  /** Stops the timers; an invocation already running finishes on its own. */
  close(): void;
}

/** What the tracker's rule matches (serverless.yml): an accepted upgrade, or one that may have started. */
export const TRACKED_DETAIL_TYPES: readonly string[] = [
  'Proxy Upgrade Accepted',
  'Proxy Upgrade Unconfirmed',
];

function triggerKindOf(detail: unknown): unknown {
  let parsed = detail;
  try {
    if (typeof detail === 'string') parsed = JSON.parse(detail);
  } catch {
    return undefined;
  }
  return (parsed as { trigger?: { kind?: unknown } } | null)?.trigger?.kind;
}

export const defaults = {
  visibilityTimeoutMs: 10_000,
  maxReceiveCount: 5,
  functionName: 'taurusdb-proxy-upgrader-sandbox-track',
};

export function createLocalTracking(options: LocalTrackingOptions): LocalTracking {
  const visibilityTimeoutMs = options.visibilityTimeoutMs ?? defaults.visibilityTimeoutMs;
  const maxReceiveCount = options.maxReceiveCount ?? defaults.maxReceiveCount;
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  function later(ms: number, run: () => void) {
    if (closed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) run();
    }, ms);
    timers.add(timer);
  }

  function invoke(event: unknown): Promise<unknown> {
    const run = queue.then(() => {
      if (closed) return undefined;
      const context = createLambdaContext({
        functionName: options.functionName ?? defaults.functionName,
        region: options.region,
        timeoutMs: 30_000,
      });
      return options.handler(event, context);
    });
    queue = run.catch(() => undefined);
    return run;
  }

  function deliver(message: SentMessage, receiveCount: number) {
    const event = sqsEvent([message], { region: options.region, queueArn: options.queueArn, receiveCount });
    invoke(event).then(
      (response) => {
        const failures = (response as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures ?? [];
        if (failures.length > 0) retry(message, receiveCount, 'the tracker reported it failed');
      },
      (error: unknown) => retry(message, receiveCount, describe(error)),
    );
  }

  function retry(message: SentMessage, receiveCount: number, reason: string) {
    if (receiveCount >= maxReceiveCount) {
      options.log(
        `sandbox: tracking message ${message.messageId} failed ${receiveCount} times (${reason}); ` +
          'the redrive policy would move it to the dead-letter queue\n',
      );
      return;
    }
    later(visibilityTimeoutMs, () => deliver(message, receiveCount + 1));
  }

  return {
    onPublished(entry) {
      if (!TRACKED_DETAIL_TYPES.includes(entry.DetailType ?? '') || entry.Source !== options.eventSource)
        return;
      // The rule's `detail.trigger.kind: anything-but rollout` (serverless.yml): a rollout's tick
      // follows its own upgrades.
      if (triggerKindOf(entry.Detail) === 'rollout') return;
      const event = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: '000000000000',
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: options.region,
        resources: [],
        detail: entry.Detail,
      };
      // After the current PutEvents has been answered, as EventBridge delivers asynchronously.
      setImmediate(() => {
        invoke(event).catch((error: unknown) =>
          options.log(
            `sandbox: tracking the accepted upgrade failed (${describe(error)}); Lambda would retry it twice, then keep it in the failed-deliveries queue\n`,
          ),
        );
      });
    },
    onQueued(message) {
      later((message.delaySeconds ?? 0) * 1000, () => deliver(message, 1));
    },
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
