import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { atExpression, createDeferralScheduler } from '../../../lib/aws/scheduler.ts';
import { DeferralError } from '../../../lib/errors.ts';
import { type SchedulerStandIn, startSchedulerStandIn } from '../../../stand-ins/scheduler.ts';

describe('deferred attempts (EventBridge Scheduler CreateSchedule through the real SDK client)', () => {
  let stand: SchedulerStandIn;

  beforeAll(async () => {
    stand = await startSchedulerStandIn({ groups: ['deferred'] });
  });
  afterAll(() => stand?.close());
  beforeEach(() => stand.reset());

  const scheduler = (groupName = 'deferred', withDeadLetters = true) =>
    createDeferralScheduler({
      groupName,
      targetArn: 'arn:aws:lambda:eu-west-1:123456789012:function:upgrade',
      roleArn: 'arn:aws:iam::123456789012:role/scheduler',
      deadLetterArn: withDeadLetters ? 'arn:aws:sqs:eu-west-1:123456789012:dead-letters' : undefined,
      client: new SchedulerClient({
        region: 'eu-west-1',
        endpoint: stand.url,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
        maxAttempts: 1,
      }),
    });
  const attempt = {
    name: 'proxy-upgrade-0123abcd-2',
    at: new Date('2026-12-02T03:04:05.250Z'),
    input: { a: 1 },
  };

  it('sends POST /schedules/{Name}: at() in UTC, window off, deleted after it ran, the target and its role', async () => {
    expect(await scheduler().schedule(attempt)).toBe('created');

    const [wire] = stand.server.requests;
    expect(wire?.method).toBe('POST');
    expect(wire?.url).toBe('/schedules/proxy-upgrade-0123abcd-2');
    expect(JSON.parse(wire?.body ?? '{}')).toMatchObject({
      GroupName: 'deferred',
      ScheduleExpression: 'at(2026-12-02T03:04:06)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      ClientToken: 'proxy-upgrade-0123abcd-2',
      Target: {
        Arn: 'arn:aws:lambda:eu-west-1:123456789012:function:upgrade',
        RoleArn: 'arn:aws:iam::123456789012:role/scheduler',
        Input: '{"a":1}',
        DeadLetterConfig: { Arn: 'arn:aws:sqs:eu-west-1:123456789012:dead-letters' },
      },
    });
    expect(stand.schedules().map((schedule) => schedule.at)).toStrictEqual([
      Date.parse('2026-12-02T03:04:06Z'),
    ]);
  });

  it('a name already taken is ConflictException: already scheduled, not an error', async () => {
    await scheduler().schedule(attempt);
    expect(await scheduler().schedule(attempt)).toBe('existing');
    expect(stand.createRequests()).toBe(2);
    expect(stand.schedules()).toHaveLength(1);
  });

  it('any other refusal is a DeferralError naming the group and the error, never the input', async () => {
    stand.fail({ status: 403, type: 'AccessDeniedException', message: 'not authorized' });
    const error = await scheduler()
      .schedule({ ...attempt, input: { secret: 'do-not-show' } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DeferralError);
    expect((error as Error).message).toMatch(/in schedule group deferred \(AccessDeniedException\)/);
    // The SDK's error stays the cause, for the log line that explains the failed delivery.
    expect((error as Error).cause).toMatchObject({ name: 'AccessDeniedException' });
    expect((error as Error).message).not.toContain('do-not-show');

    const missing = await scheduler('no-such-group')
      .schedule(attempt)
      .catch((caught: unknown) => caught);
    expect((missing as Error).message).toContain('ResourceNotFoundException');
  });

  it('without a dead-letter queue, the target has no DeadLetterConfig (Scheduler refuses one without an Arn)', async () => {
    expect(await scheduler('deferred', false).schedule(attempt)).toBe('created');
    const body = JSON.parse(stand.server.requests.at(-1)?.body ?? '{}') as { Target?: object };
    expect(body.Target).toStrictEqual({
      Arn: 'arn:aws:lambda:eu-west-1:123456789012:function:upgrade',
      RoleArn: 'arn:aws:iam::123456789012:role/scheduler',
      Input: '{"a":1}',
    });
  });

  it('an aborted invocation schedules nothing: the signal reaches the call, which is a DeferralError', async () => {
    const sent = stand.createRequests();
    const error = await scheduler()
      .schedule(attempt, AbortSignal.abort())
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DeferralError);
    expect(stand.createRequests()).toBe(sent);
    expect(stand.schedules()).toHaveLength(0);
  });

  it('at() has whole seconds, rounded up so the attempt is never early', () => {
    expect(atExpression(new Date('2026-12-02T03:04:05.000Z'))).toBe('at(2026-12-02T03:04:05)');
    expect(atExpression(new Date('2026-12-02T23:59:59.001Z'))).toBe('at(2026-12-03T00:00:00)');
  });
});
