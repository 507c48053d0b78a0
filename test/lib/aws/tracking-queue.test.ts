import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTrackingQueue } from '../../../lib/aws/tracking-queue.ts';
import { PublishError } from '../../../lib/errors.ts';
import { serializeTracked } from '../../../lib/tracking/message.ts';
import { type SqsStandIn, startSqsStandIn } from '../../../stand-ins/sqs.ts';
import { describeError } from '../../support/secret-leaks.ts';
import { trackedSample, trackedVersionSample } from '../../support/tracking.ts';

describe('the tracking queue (SQS SendMessage through the real SDK client)', () => {
  let sqs: SqsStandIn;

  beforeAll(async () => {
    sqs = await startSqsStandIn({ queues: ['tracking'] });
  });
  afterAll(() => sqs?.close());
  beforeEach(() => sqs.reset());

  const queue = (queueUrl = sqs.queueUrl('tracking')) =>
    createTrackingQueue({ queueUrl, client: sqs.client() });

  it('sends the tracked state as the body, delayed by DelaySeconds, over AWS JSON 1.0', async () => {
    const tracked = trackedSample({ attempt: 2 });

    const messageId = await queue().schedule(tracked, 120);

    const [wire] = sqs.server.requests;
    expect(wire?.headers['x-amz-target']).toBe('AmazonSQS.SendMessage');
    expect(wire?.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(JSON.parse(wire?.body ?? '{}')).toEqual({
      QueueUrl: sqs.queueUrl('tracking'),
      MessageBody: serializeTracked(tracked),
      DelaySeconds: 120,
    });
    // The SDK checked the stand-in's MD5OfMessageBody against the body before resolving.
    expect(messageId).toBe(sqs.sent[0]?.messageId);
  });

  it('keeps a delay inside what SQS takes: whole seconds from 0 to 900', async () => {
    const tracked = trackedSample();
    await queue().schedule(tracked, 2_000);
    await queue().schedule(tracked, 12.2);
    await queue().schedule(tracked, -3);
    expect(sqs.sent.map((message) => message.delaySeconds)).toEqual([900, 13, 0]);
  });

  it('fails with a PublishError naming the workflow and the SQS error, never the body', async () => {
    const tracked = trackedSample();
    const failure = await queue(sqs.queueUrl('no-such-queue'))
      .schedule(tracked, 30)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(PublishError);
    expect((failure as Error).message).toMatch(
      new RegExp(`workflow ${tracked.workflow_id} could not be queued .*QueueDoesNotExist`),
    );
    expect((failure as Error).message).not.toContain(tracked.trigger.id);
    expect(describeError(failure)).not.toContain(serializeTracked(tracked));
  });

  it('names the proxy whose version a failed re-check was following', async () => {
    const tracked = trackedVersionSample();
    const failure = await queue(sqs.queueUrl('no-such-queue'))
      .schedule(tracked, 30)
      .catch((error: unknown) => error);
    expect((failure as Error).message).toContain(
      `the re-check of the version of proxy ${tracked.request.proxy_id} could not be queued`,
    );
  });
});
