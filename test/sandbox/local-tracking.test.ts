import { EventEmitter, once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalTracking, type LocalTracking } from '../../sandbox/local-tracking.ts';
import type { SentMessage } from '../../stand-ins/sqs.ts';

/**
 * The sandbox's stand-in for the Accepted rule and the tracking queue's event source mapping, with a
 * recording handler in place of the tracker. Delays are 0 s and the visibility timeout a few
 * milliseconds; every wait ends on an invocation or a log line.
 */

const SOURCE = 'taurusdb.proxy-upgrader';

let tracking: LocalTracking | undefined;
afterEach(() => tracking?.close());

function harness(answer: (event: unknown) => unknown) {
  const invocations: unknown[] = [];
  const logs: string[] = [];
  const signals = new EventEmitter();
  tracking = createLocalTracking({
    handler: async (event) => {
      invocations.push(event);
      signals.emit('invoked');
      return answer(event);
    },
    eventSource: SOURCE,
    queueArn: (name) => `arn:aws:sqs:eu-west-1:000000000000:${name}`,
    region: 'eu-west-1',
    log: (text) => {
      logs.push(text);
      signals.emit('logged');
    },
    visibilityTimeoutMs: 5,
    maxReceiveCount: 3,
  });
  return { tracking, invocations, logs, signals };
}

const message = (overrides: Partial<SentMessage> = {}): SentMessage => ({
  queueName: 'tracking',
  messageId: 'm-1',
  body: '{"version":1}',
  delaySeconds: 0,
  sentAt: Date.now(),
  ...overrides,
});

describe('the sandbox tracking wiring', () => {
  it('invokes the tracker with the Accepted events of its own source only, as EventBridge envelopes', async () => {
    const { tracking, invocations, signals } = harness(() => ({ outcome: 'rechecking' }));
    const detail = { event_id: 'e-1' };

    tracking.onPublished({
      Source: 'someone.else',
      DetailType: 'Proxy Upgrade Accepted',
      Detail: detail,
      EventBusName: 'b',
    });
    tracking.onPublished({
      Source: SOURCE,
      DetailType: 'Proxy Upgrade Rejected',
      Detail: detail,
      EventBusName: 'b',
    });
    tracking.onPublished({
      Source: SOURCE,
      DetailType: 'Proxy Upgrade Accepted',
      Detail: detail,
      EventBusName: 'b',
    });
    await once(signals, 'invoked');

    expect(invocations).toEqual([
      expect.objectContaining({ 'detail-type': 'Proxy Upgrade Accepted', source: SOURCE, detail }),
    ]);
  });

  it('delivers a queued message as a one-record SQS batch', async () => {
    const { tracking, invocations, signals } = harness(() => ({ batchItemFailures: [] }));

    tracking.onQueued(message());
    await once(signals, 'invoked');

    expect(invocations).toEqual([
      {
        Records: [
          expect.objectContaining({
            messageId: 'm-1',
            body: '{"version":1}',
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:tracking',
            attributes: expect.objectContaining({ ApproximateReceiveCount: '1' }),
          }),
        ],
      },
    ]);
  });

  it('redelivers a record the tracker failed until the receive count, then says it is a dead letter', async () => {
    const { tracking, invocations, logs, signals } = harness((event) => ({
      batchItemFailures: [
        { itemIdentifier: (event as { Records: Array<{ messageId: string }> }).Records[0]?.messageId },
      ],
    }));

    tracking.onQueued(message());
    await once(signals, 'logged');

    const counts = invocations.map(
      (event) =>
        (event as { Records: Array<{ attributes: { ApproximateReceiveCount: string } }> }).Records[0]
          ?.attributes.ApproximateReceiveCount,
    );
    expect(counts).toEqual(['1', '2', '3']);
    expect(logs).toEqual([expect.stringContaining('m-1 failed 3 times')]);
    expect(logs[0]).toContain('dead-letter queue');
  });

  it('redelivers nothing once closed', async () => {
    let closeOnFirst: LocalTracking | undefined;
    const { tracking, invocations, signals } = harness((event) => {
      closeOnFirst?.close();
      return {
        batchItemFailures: [
          { itemIdentifier: (event as { Records: Array<{ messageId: string }> }).Records[0]?.messageId },
        ],
      };
    });
    closeOnFirst = tracking;

    tracking.onQueued(message());
    await once(signals, 'invoked');
    // Ten visibility timeouts: an open wiring would have redelivered the failed record by now.
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(invocations).toHaveLength(1);
  });
});
