import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replies } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);

describe('duplicate suppression through the handler (dynalite over the real DynamoDB protocol)', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  it('the same webhook delivery twice: one TaurusDB request, identical events published twice', async () => {
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_dup_1' }),
    );
    // A sender's retry signs the same id and body again, with its own timestamp.
    const second = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_dup_1' }),
    );

    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(first.json.outcomes[0].replayed).toBe(false);
    expect(second.json.outcomes[0].replayed).toBe(true);
    expect(second.json.outcomes[0].event_ids).toEqual(first.json.outcomes[0].event_ids);
    const [published, republished] = world.eventBridge.events();
    expect(world.eventBridge.events()).toHaveLength(2);
    expect(republished).toEqual(published);
  });

  it('a new delivery id is a deliberate new attempt and reaches TaurusDB', async () => {
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_attempt_a' }));
    world.taurusDb.script(replies.alreadyLatest());
    const again = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_attempt_b' }),
    );
    expect(world.taurusDb.upgradeRequests()).toBe(2);
    expect(again.statusCode).toBe(400);
    expect(again.json.outcomes[0].error.error_code).toBe('DBS.05000008');
  });

  it('two concurrent identical deliveries: one TaurusDB request, the other answers 409 in progress', async () => {
    world.taurusDb.script(replies.slow(400));
    const [one, two] = await Promise.all([
      world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_race' })),
      world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_race' })),
    ]);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect([one.statusCode, two.statusCode].sort()).toEqual([200, 409]);
    const busy = one.statusCode === 409 ? one : two;
    expect(busy.json.outcomes[0]).toMatchObject({
      outcome: 'in_progress',
      error: { error_code: 'IN_PROGRESS' },
    });
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Accepted']);
  });

  it('a publish failure after a successful upgrade: the retry publishes without a second TaurusDB request', async () => {
    world.eventBridge.script({
      failDetailType: 'Proxy Upgrade Accepted',
      errorCode: 'InternalFailure',
      times: 4,
    });
    const failed = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_pub' }),
    );
    expect(failed.statusCode).toBe(500);
    expect(world.eventBridge.events()).toHaveLength(0);

    const retried = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_pub' }),
    );
    expect(retried.statusCode).toBe(200);
    expect(retried.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: true });
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Accepted']);
  });

  it('a pipeline event redelivered by EventBridge (same event id) is not upgraded twice', async () => {
    const event = { ...sample('pipeline-event.json'), id: 'a0b1c2d3-0000-4000-8000-00000000e001' };
    await world.invoke(event);
    await world.invoke(event);
    expect(world.taurusDb.upgradeRequests()).toBe(event.detail.upgrades.length);
    const ids = world.eventBridge.events().map((entry) => (entry.Detail as { event_id: string }).event_id);
    expect(ids.slice(0, 2)).toEqual(ids.slice(2));
  });

  it('Scheduler input: delivery_id, else the Lambda request id kept across async retries, names the delivery', async () => {
    const scheduled = sample('scheduler-input.json');
    await world.invoke(scheduled);
    await world.invoke(scheduled);
    expect(world.taurusDb.upgradeRequests()).toBe(2);

    const withoutId = { ...REQUEST, proxy_id: 'proxy-scheduled' };
    const context = lambdaContext({ awsRequestId: 'f00dfeed-0000-4000-8000-000000000001' });
    await world.invoke(withoutId, context);
    await world.invoke(withoutId, lambdaContext({ awsRequestId: context.awsRequestId }));
    await world.invoke(withoutId, lambdaContext());
    expect(world.taurusDb.upgradeRequests()).toBe(4);
  });

  it('a failure that never reached TaurusDB is not stored: the redelivery tries again', async () => {
    world.taurusDb.script(replies.throttled('0'), replies.throttled('0'), replies.throttled('0'));
    const throttled = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_429' }),
    );
    expect(throttled.statusCode).toBe(429);
    const retried = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_429' }),
    );
    expect(retried.statusCode).toBe(200);
    expect(retried.json.outcomes[0].replayed).toBe(false);
    expect(world.taurusDb.upgradeRequests()).toBe(4);
  });

  it('a 5xx is stored: the redelivery republishes the failure instead of calling again', async () => {
    world.taurusDb.script(replies.serverError());
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_500' }),
    );
    const second = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_500' }),
    );
    expect([first.statusCode, second.statusCode]).toEqual([502, 502]);
    expect(second.json.outcomes[0].replayed).toBe(true);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });
});

describe('without IDEMPOTENCY_TABLE', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());

  it('says so once at cold start, and a redelivery calls TaurusDB again', async () => {
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_nodup' }));
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_nodup' }));
    expect(world.taurusDb.upgradeRequests()).toBe(2);
    const warnings = world
      .logLines()
      .filter(
        (line) => typeof line === 'object' && String(line.message).startsWith('IDEMPOTENCY_TABLE is not set'),
      );
    expect(warnings).toHaveLength(1);
  });
});
