import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replies } from '../../stand-ins/taurusdb.ts';
import {
  SCHEDULE_GROUP,
  SCHEDULER_ROLE_ARN,
  sample,
  signedHttpEvent,
  startWorld,
  UPGRADE_FUNCTION_ARN,
  type World,
} from '../support/world.ts';

/**
 * Busy is not failed (README.md "Deferred upgrades"): TaurusDB's busy refusals become a Deferred
 * outcome and a one-time EventBridge Scheduler schedule whose input is the next attempt; that input,
 * fired into the real handler, upgrades. Everything runs against the stand-ins, duplicate suppression
 * on dynalite, the schedule through @aws-sdk/client-scheduler to the Scheduler stand-in.
 */

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const DEFERRED = 'Proxy Upgrade Deferred';

let counter = 0;
function freshTarget(extra: Record<string, unknown> = {}) {
  counter += 1;
  return { ...REQUEST, proxy_id: `deferral-proxy-${counter}-po01`, ...extra };
}

describe('a busy instance', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true, scheduler: true });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
    world.scheduler?.reset();
  });

  const scheduler = () => {
    if (!world.scheduler) throw new Error('the world has no scheduler');
    return world.scheduler;
  };
  // biome-ignore lint/suspicious/noExplicitAny: event details are JSON read by assertions
  const events = (type: string): Array<{ Detail: any }> =>
    world.eventBridge.events().filter((entry) => entry.DetailType === type);

  it('is deferred to a one-time schedule, which re-runs it and gets it accepted', async () => {
    const target = freshTarget();
    world.taurusDb.script(replies.busy());
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_1' }),
    );

    expect(first.statusCode).toBe(202);
    const outcome = first.json.outcomes[0];
    expect(outcome).toMatchObject({
      outcome: 'deferred',
      reason: expect.stringMatching(
        /is busy with another operation \(DBS\.201205\); nothing ran; attempt 2 runs at/,
      ),
      error: { status: 409, error_code: 'DBS.201205' },
      deferred: { attempt: 2 },
    });
    const [schedule, ...others] = scheduler().schedules();
    expect(others).toHaveLength(0);
    expect(schedule).toMatchObject({
      groupName: SCHEDULE_GROUP,
      flexibleWindowMode: 'OFF',
      actionAfterCompletion: 'DELETE',
      targetArn: UPGRADE_FUNCTION_ARN,
      roleArn: SCHEDULER_ROLE_ARN,
    });
    expect(schedule?.name).toMatch(/^[0-9a-zA-Z-_.]{1,64}$/);
    expect(new Date(schedule?.at ?? 0).toISOString()).toBe(outcome.deferred.next_attempt_at);
    const [deferred] = events(DEFERRED);
    expect(deferred?.Detail).toMatchObject({
      request: { proxy_id: target.proxy_id },
      error: { error_code: 'DBS.201205' },
      next_attempt: 2,
      next_attempt_at: outcome.deferred.next_attempt_at,
      deadline: outcome.deferred.deadline,
      retried_by: 'scheduler',
      schedule_name: schedule?.name,
      trigger: { kind: 'http', id: 'msg_busy_1', change_id: REQUEST.change_id },
    });
    // The default busy_retry_for is two hours from the first refusal.
    const deadline = Date.parse(outcome.deferred.deadline);
    expect(deadline - Date.parse(String(deferred?.Detail.occurred_at))).toBe(2 * 3600_000);

    // Scheduler fires: the input is an ordinary Scheduler trigger of the same request.
    const input = scheduler().fire(String(schedule?.name)) as Record<string, unknown>;
    expect(input).toMatchObject({
      project_id: target.project_id,
      proxy_id: target.proxy_id,
      delivery_id: expect.stringMatching(/-2$/),
      deferral: {
        attempt: 2,
        deadline: outcome.deferred.deadline,
        trigger: { kind: 'http', id: 'msg_busy_1' },
      },
    });
    const second = (await world.invoke(input)) as { outcomes: Array<{ outcome: string }> };

    expect(second.outcomes[0]?.outcome).toBe('accepted');
    expect(world.taurusDb.upgradeRequests()).toBe(2);
    expect(events('Proxy Upgrade Accepted')[0]?.Detail.trigger).toStrictEqual({
      kind: 'http',
      id: 'msg_busy_1',
      change_id: REQUEST.change_id,
      requested_by: REQUEST.requested_by,
      attempt: 2,
    });
    expect(scheduler().schedules()).toHaveLength(0);
  });

  it('a JWT caller deferred stays named on the attempt: its claims and requested_by travel with it', async () => {
    const event = sample('http-api-jwt.json');
    const claims = event.requestContext.authorizer.jwt.claims;
    const { requested_by: _unset, ...body } = freshTarget();
    event.body = JSON.stringify(body);
    event.headers['idempotency-key'] = 'CHG-jwt-busy-1';
    world.taurusDb.script(replies.busy());
    const first = await world.invokeHttp(event);
    expect(first.json.outcomes[0].outcome).toBe('deferred');

    const [schedule] = scheduler().schedules();
    const input = scheduler().fire(String(schedule?.name)) as Record<string, unknown>;
    const second = (await world.invoke(input)) as { outcomes: Array<{ outcome: string }> };

    expect(second.outcomes[0]?.outcome).toBe('accepted');
    expect(events('Proxy Upgrade Accepted')[0]?.Detail.trigger).toStrictEqual({
      kind: 'http',
      id: 'CHG-jwt-busy-1',
      auth: 'jwt',
      client_id: claims.client_id,
      sub: claims.sub,
      change_id: body.change_id,
      requested_by: claims.client_id,
      attempt: 2,
    });
  });

  it('a redelivery of the deferred delivery replays it: no second schedule, no POST', async () => {
    const target = freshTarget();
    world.taurusDb.script(replies.busy('DBS.212033', 400));
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_2' }),
    );
    const again = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_2' }),
    );

    expect(first.json.outcomes[0].outcome).toBe('deferred');
    expect(again.json.outcomes[0]).toMatchObject({ outcome: 'deferred', replayed: true });
    expect(again.json.outcomes[0].event_ids).toStrictEqual(first.json.outcomes[0].event_ids);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(scheduler().createRequests()).toBe(1);
  });

  it('a doubled schedule firing makes one POST', async () => {
    const target = freshTarget();
    world.taurusDb.script(replies.busy());
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_3' }));
    const [schedule] = scheduler().schedules();
    const input = scheduler().fire(String(schedule?.name));

    const answers = (await Promise.all([world.invoke(input), world.invoke(input)])) as Array<{
      outcomes: Array<{ outcome: string; replayed: boolean }>;
    }>;
    const again = (await world.invoke(input)) as { outcomes: Array<{ outcome: string; replayed: boolean }> };

    expect(world.taurusDb.upgradeRequests()).toBe(2);
    const outcomes = answers.map((answer) => answer.outcomes[0]?.outcome).sort();
    // The two at once: one upgrades, the other finds the step held (or already done).
    expect(outcomes).toContain('accepted');
    expect(again.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: true });
  });

  it('a deferred attempt still busy schedules the next one, with the same deadline', async () => {
    const target = freshTarget();
    world.taurusDb.script(replies.busy(), replies.busy('DBS.200019'));
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_4' }),
    );
    const [schedule] = scheduler().schedules();
    const second = (await world.invoke(scheduler().fire(String(schedule?.name)))) as {
      outcomes: Array<Record<string, unknown>>;
    };

    expect(second.outcomes[0]).toMatchObject({
      outcome: 'deferred',
      deferred: { attempt: 3, deadline: first.json.outcomes[0].deferred.deadline },
    });
    const [next, ...others] = scheduler().schedules();
    expect(others).toHaveLength(0);
    expect(next?.name).not.toBe(schedule?.name);
    expect(next?.input).toMatchObject({
      deferral: { attempt: 3, trigger: { kind: 'http', id: 'msg_busy_4' } },
    });
    // The second wait is twice the first (5 then 10 minutes by default).
    expect((next?.at ?? 0) - Date.parse(String(events(DEFERRED)[1]?.Detail.occurred_at))).toBeGreaterThan(
      9 * 60_000,
    );
  });

  it('busy past busy_retry_for ends Failed INSTANCE_BUSY, without a schedule', async () => {
    const target = freshTarget({ busy_retry_for: 'PT1M' });
    world.taurusDb.script(replies.busy());
    const answer = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_5' }),
    );

    expect(answer.statusCode).toBe(409);
    expect(answer.json.outcomes[0]).toMatchObject({
      outcome: 'failed',
      error: {
        status: 409,
        error_code: 'INSTANCE_BUSY',
        error_msg: expect.stringMatching(
          /DBS\.201205.*busy_retry_for ends at .*, before another attempt could run/,
        ),
      },
    });
    expect(scheduler().createRequests()).toBe(0);
    expect(events('Proxy Upgrade Failed')[0]?.Detail.error).toMatchObject({ error_code: 'INSTANCE_BUSY' });
  });

  it('a schedule that cannot be created fails the invocation (503); the retry defers it', async () => {
    const target = freshTarget();
    world.taurusDb.script(replies.busy(), replies.busy());
    scheduler().fail({ status: 403, type: 'AccessDeniedException', message: 'not authorized' });
    const refused = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_6' }),
    );

    expect(refused.statusCode).toBe(503);
    expect(refused.json.message).toMatch(
      /could not be scheduled .*AccessDeniedException.*retry the same delivery/,
    );
    expect(events(DEFERRED)).toHaveLength(0);

    const retried = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_busy_6' }),
    );
    expect(retried.json.outcomes[0]).toMatchObject({ outcome: 'deferred', replayed: false });
    expect(scheduler().schedules()).toHaveLength(1);
  });

  it('the deferred attempt sample (events/) runs as Scheduler input and names the first delivery', async () => {
    const attempt = sample('scheduler-deferred-attempt.json');
    const answer = (await world.invoke(attempt)) as {
      trigger: unknown;
      outcomes: Array<{ outcome: string }>;
    };

    expect(answer.outcomes.map((outcome) => outcome.outcome)).toStrictEqual(['accepted']);
    expect(events('Proxy Upgrade Accepted')[0]?.Detail.trigger).toMatchObject({
      kind: 'http',
      id: attempt.deferral.trigger.id,
      attempt: 2,
    });
  });

  it('a deferral object from a webhook is refused, naming the field, before any call', async () => {
    const target = freshTarget({
      deferral: { attempt: 2, deadline: '2026-12-02T03:00:00.000Z', trigger: { kind: 'http', id: 'x' } },
    });
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));

    expect(answer.statusCode).toBe(400);
    expect(answer.json.issues).toStrictEqual([
      {
        path: 'deferral',
        message: 'is set only by the deferred attempts this function schedules (Scheduler input)',
      },
    ]);
    expect(world.taurusDb.requests).toHaveLength(0);
  });
});

describe('several proxies of one instance in one delivery', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true, scheduler: true });
  });
  afterAll(() => world.close());

  it('all_proxies: one POST now, the others deferred without a call; a redelivery changes nothing', async () => {
    const instance = 'serial-instance-1in07';
    world.taurusDb.setProxies(instance, ['serial-a-po01', 'serial-b-po01', 'serial-c-po01']);
    const request = {
      project_id: REQUEST.project_id,
      instance_id: instance,
      all_proxies: true,
      target_version: 'latest',
    };
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', request, { id: 'msg_serial_1' }),
    );

    expect(first.statusCode).toBe(200);
    const outcomes = first.json.outcomes as Array<Record<string, string>>;
    expect(outcomes.map((outcome) => [outcome.proxy_id, outcome.outcome])).toStrictEqual([
      ['serial-a-po01', 'accepted'],
      ['serial-b-po01', 'deferred'],
      ['serial-c-po01', 'deferred'],
    ]);
    expect(outcomes[1]?.reason).toMatch(
      /^waiting for proxy serial-a-po01 on the same instance serial-instance-1in07/,
    );
    expect(world.taurusDb.upgrades.map((upgrade) => upgrade.proxyId)).toStrictEqual(['serial-a-po01']);
    const schedules = world.scheduler?.schedules() ?? [];
    expect(
      schedules.map((schedule) => (schedule.input as { proxy_id: string }).proxy_id).sort(),
    ).toStrictEqual(['serial-b-po01', 'serial-c-po01']);
    // A deferred attempt names its proxy, not the whole instance again.
    expect(schedules[0]?.input).not.toHaveProperty('all_proxies');

    const again = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', request, { id: 'msg_serial_1' }),
    );
    expect((again.json.outcomes as Array<{ replayed: boolean }>).every((outcome) => outcome.replayed)).toBe(
      true,
    );
    expect(world.taurusDb.upgrades).toHaveLength(1);
    expect(world.scheduler?.createRequests()).toBe(2);
  });
});

describe('"already latest" however TaurusDB says it', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());

  const at = (current: string) => ({
    body: { current_version: current, latest_version: '2.24.03.000', can_upgrade: current !== '2.24.03.000' },
  });

  for (const refusal of [replies.alreadyLatest(), replies.error(400, 'DBS.200001', 'Parameter error.')]) {
    const code = (refusal.body as { error_code: string }).error_code;

    it(`${code} with the proxy at the target by the version read: Skipped`, async () => {
      const target = freshTarget();
      // The first read (the decision) finds it below; by the refusal, the second finds it there.
      world.taurusDb.scriptRead(at('2.23.12.000'), at('2.24.03.000'));
      world.taurusDb.script(refusal);
      const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));

      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes[0]).toMatchObject({
        outcome: 'skipped',
        reason: expect.stringMatching(
          new RegExp(`^TaurusDB answered ${code} .*finds the proxy at 2\\.24\\.03\\.000`),
        ),
        versions: { current_version: '2.24.03.000' },
      });
    });

    it(`${code} with the proxy still below the target: the refusal stands`, async () => {
      const target = freshTarget();
      world.taurusDb.scriptRead(at('2.23.12.000'), at('2.23.12.000'));
      world.taurusDb.script(refusal);
      const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));

      expect(answer.statusCode).toBe(400);
      expect(answer.json.outcomes[0]).toMatchObject({
        outcome: 'failed',
        error: { status: 400, error_code: code },
      });
    });
  }
});
