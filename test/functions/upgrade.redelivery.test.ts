import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CREDENTIALS_SECRET_ID, sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * Redeliveries that find an earlier attempt of their step, and deliveries that reuse an id, through the
 * whole handler with dynalite behind duplicate suppression (issue 12). The crash itself (a process
 * really killed mid-POST) is test/functions/upgrade.crash.test.ts.
 */

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const UNCONFIRMED = 'Proxy Upgrade Unconfirmed';

let counter = 0;
function freshTarget() {
  counter += 1;
  return { ...REQUEST, proxy_id: `redelivery-proxy-${counter}-po01` };
}

describe('a webhook delivery retried after its window (late Svix retries)', () => {
  let world: World;

  beforeAll(async () => {
    // A one-second window stands for 48 hours: Svix's last retry comes about 27 hours after the first.
    world = await startWorld({ idempotency: true, env: { IDEMPOTENCY_WINDOW_HTTP_SECONDS: '1' } });
  });
  afterAll(() => world.close());
  beforeEach(() => world.forgetTraffic());

  it('never sends the POST again: the retry reconciles to Unconfirmed, and later retries replay that', async () => {
    const target = freshTarget();
    world.taurusDb.setProxyVersion(target.instance_id, target.proxy_id, {
      current_version: target.source_version,
      latest_version: target.target_version,
      can_upgrade: true,
    });
    const first = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_1' }),
    );
    expect(first.json.outcomes[0].outcome).toBe('accepted');
    // DynamoDB TTLs are whole seconds: past 2 s the window of 1 s is certainly over.
    await sleep(2_100);

    const late = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_1' }),
    );
    const later = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_1' }),
    );

    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(late.statusCode).toBe(200);
    expect(late.json.outcomes[0]).toMatchObject({
      outcome: 'unconfirmed',
      versions: { current_version: target.source_version },
      reason: expect.stringMatching(
        /^an earlier attempt may have started this upgrade; no second upgrade request/,
      ),
      replayed: false,
    });
    const published = world.eventBridge.events().filter((entry) => entry.DetailType === UNCONFIRMED);
    expect(published).toHaveLength(2);
    expect(published[0]?.Detail).toMatchObject({
      request: { proxy_id: target.proxy_id },
      resolved: { source_version: target.source_version, target_version: target.target_version },
      versions: { current_version: target.source_version },
      sending_at: expect.any(String),
    });
    // Within the new window the reconciled outcome is replayed as it was stored, under the same id.
    expect(later.json.outcomes[0]).toMatchObject({ outcome: 'unconfirmed', replayed: true });
    expect(later.json.outcomes[0].event_ids).toEqual(late.json.outcomes[0].event_ids);
  });

  it('a proxy that reached the target meanwhile is Skipped, without a POST', async () => {
    const target = freshTarget();
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_2' }));
    world.taurusDb.setProxyVersion(target.instance_id, target.proxy_id, {
      current_version: target.target_version,
      latest_version: target.target_version,
      can_upgrade: false,
    });
    await sleep(2_100);
    const late = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_2' }),
    );

    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(late.json.outcomes[0]).toMatchObject({ outcome: 'skipped' });
  });

  it('"preflight": false still reads the version before answering a late retry, and sends nothing', async () => {
    const target = { ...freshTarget(), preflight: false };
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_3' }));
    await sleep(2_100);
    world.forgetTraffic();
    const late = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_late_3' }),
    );

    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(world.taurusDb.reads('version')).toBe(1);
    expect(['unconfirmed', 'skipped']).toContain(late.json.outcomes[0].outcome);
  });
});

describe('a delivery id means one request', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());
  beforeEach(() => world.forgetTraffic());

  it('the same webhook-id with another body is refused 422 before any step: no call, nothing republished', async () => {
    const target = freshTarget();
    const first = await world.invokeHttp(
      signedHttpEvent(
        world,
        'http-api-v2.json',
        { ...target, change_id: 'CHG-1', requested_by: 'alice@example.com' },
        { id: 'msg_reuse_1' },
      ),
    );
    expect(first.statusCode).toBe(200);
    world.forgetTraffic();

    const reused = await world.invokeHttp(
      signedHttpEvent(
        world,
        'http-api-v2.json',
        { ...target, change_id: 'CHG-2', requested_by: 'mallory@example.com' },
        { id: 'msg_reuse_1' },
      ),
    );

    expect(reused.statusCode).toBe(422);
    expect(reused.json.message).toBe('delivery id msg_reuse_1 was already used for a different request');
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  });

  it('the same id with the same body, signed afresh, is a retry and replays', async () => {
    const target = freshTarget();
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_reuse_2' }));
    const retry = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_reuse_2' }),
    );
    expect(retry.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: true });
  });

  it('a dry run may share its delivery id with the real run, before or after it', async () => {
    const target = freshTarget();
    const dry = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', { ...target, dry_run: true }, { id: 'msg_reuse_3' }),
    );
    const real = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_reuse_3' }),
    );
    const dryAgain = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', { ...target, dry_run: true }, { id: 'msg_reuse_3' }),
    );
    expect([dry.statusCode, real.statusCode, dryAgain.statusCode]).toEqual([200, 200, 200]);
    expect(real.json.outcomes[0].outcome).toBe('accepted');
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it('a pipeline event id reused for another request rejects the invocation, so it ends in the failure queue', async () => {
    const event = sample('pipeline-event.json');
    event.id = 'reused-event-id-1';
    event.detail = freshTarget();
    await world.invoke(event);
    event.detail = { ...event.detail, requested_by: 'mallory@example.com' };
    world.forgetTraffic();

    await expect(world.invoke(event)).rejects.toBeInstanceOf(world.errors.DeliveryReusedError);
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  });
});

describe('an event id names one event', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true, credentials: 'password' });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
    world.secretsManager.failing = false;
  });

  it('a failure that is not stored, retried under the same id and failing otherwise, gets another event_id', async () => {
    const target = freshTarget();
    // The signing key is cached first, so only the credentials read fails below.
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', { ...target, proxy_id: 42 }));
    world.secretsManager.failing = true;
    const credentials = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_ids_1' }),
    );
    world.secretsManager.failing = false;
    world.iam.failNext(1, 500);
    const iam = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_ids_1' }),
    );

    expect(credentials.json.outcomes[0].error.error_code).toBe('CREDENTIALS_UNAVAILABLE');
    expect(iam.json.outcomes[0].error.error_code).toBe('AUTHENTICATION_FAILED');
    const ids = world.eventBridge.events().map((entry) => (entry.Detail as { event_id: string }).event_id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });
});

describe("a delivery's authorisation starts only once its id is claimed (lib/upgrade/service.ts)", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ idempotency: true, credentials: 'password' });
  });
  afterAll(() => world.close());

  it('a reused id is refused without reading the credentials secret or asking IAM', async () => {
    // The first delivery claims its id, then cannot authorise (the secret is not JSON): no token is
    // cached, so anything the refused delivery below started would show as a read or an exchange.
    world.secretsManager.put(CREDENTIALS_SECRET_ID, 'password=not-json');
    const target = freshTarget();
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target, { id: 'msg_prepare_1' }));
    const reads = world.secretsManager.reads(CREDENTIALS_SECRET_ID);
    expect(reads).toBeGreaterThan(0);
    expect(world.iam.tokenRequests()).toBe(0);

    const reused = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', { ...target, change_id: 'CHG-9' }, { id: 'msg_prepare_1' }),
    );

    expect(reused.statusCode).toBe(422);
    // Bounded: anything started in the background would have reached the stand-ins by now.
    await sleep(50);
    expect(world.secretsManager.reads(CREDENTIALS_SECRET_ID)).toBe(reads);
    expect(world.iam.tokenRequests()).toBe(0);
    expect(world.taurusDb.requests).toHaveLength(0);
  });
});
