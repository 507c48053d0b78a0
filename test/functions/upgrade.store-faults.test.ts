/**
 * The completion write fails after the upgrade POST (issue 12): a proxy in front of dynalite
 * (stand-ins/dynamodb-fault-proxy.ts) stalls, throttles or swallows the answer of the Powertools
 * completion `UpdateItem`, over DynamoDB's real JSON protocol, through the deployed handler.
 *
 * What must hold: the invocation still ends before its Lambda deadline, with the outcome TaurusDB
 * gave published (not a bare 500, not a timeout with nothing published), because every AWS call has a
 * request timeout and bounded attempts; and a redelivery, once the record left in progress has
 * expired, never POSTs again: the sending record makes it reconcile (Unconfirmed, or Skipped when the
 * proxy already runs the target). A write that landed but whose answer was lost is simply replayed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DETAIL_TYPES } from '../../lib/events/detail-types.ts';
import { type DynamoFaultProxy, startDynamoFaultProxy } from '../../stand-ins/dynamodb-fault-proxy.ts';
import { replies } from '../../stand-ins/taurusdb.ts';
import {
  beforeDeadline,
  contextWithDeadline,
  eventsFor,
  inProgressExpired,
  postsTo,
} from '../support/redelivery.ts';
import { type HttpAnswer, sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const TARGET_VERSION = '2.24.03.000';
/**
 * The faulted invocation's Lambda timeout. Short, because its in-progress record expires with it and
 * the redelivery waits for that; long enough for the reserve kept after the TaurusDB call.
 */
const DEADLINE_MS = 4_000;

function storeWarnings(world: World, webhookId: string) {
  return world
    .logLines()
    .filter(
      (line) =>
        typeof line === 'object' &&
        line.trigger_id === webhookId &&
        String(line.message).startsWith('result could not be stored'),
    );
}

describe('the completion write fails after the upgrade POST (a fault proxy in front of dynalite)', () => {
  let world: World;
  let dynamo: DynamoFaultProxy;

  beforeAll(async () => {
    dynamo = await startDynamoFaultProxy();
    // Short SDK timeouts keep the test quick; the reserve they must fit in is the production one.
    world = await startWorld({
      idempotency: true,
      env: { AWS_ENDPOINT_URL_DYNAMODB: dynamo.url, AWS_REQUEST_TIMEOUT_MS: '300' },
    });
    dynamo.forwardTo(world.dynalite?.endpoint ?? '');
  });
  afterAll(async () => {
    await world.close();
    await dynamo.close();
  });
  afterEach(() => dynamo.clear());

  function deliver(body: unknown, id: string, context = contextWithDeadline(29_000).context) {
    return world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', body, { id }), context);
  }

  /** The faulted delivery: answered before its deadline, the Accepted outcome published. */
  async function acceptedDespiteTheStore(body: { proxy_id: string }, id: string): Promise<HttpAnswer> {
    const { context, deadline } = contextWithDeadline(DEADLINE_MS);
    const answer = await beforeDeadline(deliver(body, id, context), deadline);
    expect(answer.statusCode).toBe(200);
    expect(answer.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: false });
    expect(eventsFor(world, body.proxy_id).map((entry) => entry.DetailType)).toEqual([DETAIL_TYPES.accepted]);
    expect(postsTo(world, body.proxy_id)).toBe(1);
    expect(storeWarnings(world, id)).toHaveLength(1);
    return answer;
  }

  it('an UpdateItem that hangs (socket held open): answered in time with Accepted published; the redelivery after the in-progress expiry reconciles to Unconfirmed, no second POST', async () => {
    const body = { ...REQUEST, proxy_id: 'store-hung-proxy' };
    const id = 'msg_store_hung';
    dynamo.fail({ operation: 'UpdateItem', fault: 'hang', when: () => postsTo(world, body.proxy_id) > 0 });
    await acceptedDespiteTheStore(body, id);
    // Every attempt the SDK made (AWS_MAX_ATTEMPTS, 3 by default) hung until its request timeout.
    expect(dynamo.requests.filter((request) => request.fault === 'hang')).toHaveLength(3);
    dynamo.clear();

    await inProgressExpired(world);
    const again = await deliver(body, id);
    expect(again.json.outcomes[0]).toMatchObject({ outcome: 'unconfirmed', replayed: false });
    const replay = await deliver(body, id);
    expect(replay.json.outcomes[0]).toMatchObject({
      outcome: 'unconfirmed',
      replayed: true,
      event_ids: again.json.outcomes[0].event_ids,
    });
    expect(postsTo(world, body.proxy_id)).toBe(1);
    expect(eventsFor(world, body.proxy_id).map((entry) => entry.DetailType)).toEqual([
      DETAIL_TYPES.accepted,
      DETAIL_TYPES.unconfirmed,
      DETAIL_TYPES.unconfirmed,
    ]);
  });

  it('an UpdateItem throttled three times in a row: answered in time with Accepted published; the redelivery finds the target version and skips, no second POST', async () => {
    const body = { ...REQUEST, proxy_id: 'store-throttled-proxy' };
    const id = 'msg_store_throttled';
    dynamo.fail({ operation: 'UpdateItem', fault: 'throttle', times: 3 });
    await acceptedDespiteTheStore(body, id);
    expect(dynamo.requests.filter((request) => request.fault === 'throttle')).toHaveLength(3);

    // The upgrade TaurusDB accepted has finished by the time the sender retries.
    world.taurusDb.setProxyVersion(body.instance_id, body.proxy_id, {
      current_version: TARGET_VERSION,
      latest_version: TARGET_VERSION,
      can_upgrade: false,
    });
    await inProgressExpired(world);
    const again = await deliver(body, id);
    expect(again.json.outcomes[0]).toMatchObject({ outcome: 'skipped', replayed: false });
    const replay = await deliver(body, id);
    expect(replay.json.outcomes[0]).toMatchObject({ outcome: 'skipped', replayed: true });
    expect(postsTo(world, body.proxy_id)).toBe(1);
  });

  it('an UpdateItem whose answer is lost (the write landed): answered in time with Accepted published; the redelivery replays Accepted at once', async () => {
    const body = { ...REQUEST, proxy_id: 'store-lost-answer-proxy' };
    const id = 'msg_store_lost_answer';
    dynamo.fail({
      operation: 'UpdateItem',
      fault: 'lose-answer',
      when: () => postsTo(world, body.proxy_id) > 0,
    });
    const first = await acceptedDespiteTheStore(body, id);
    dynamo.clear();

    // No wait: the record is complete, whatever the invocation was told.
    const again = await deliver(body, id);
    expect(again.json.outcomes[0]).toMatchObject({
      outcome: 'accepted',
      replayed: true,
      event_ids: first.json.outcomes[0].event_ids,
    });
    const [accepted, republished, ...others] = eventsFor(world, body.proxy_id);
    expect(others).toEqual([]);
    expect(republished).toEqual(accepted);
    expect(postsTo(world, body.proxy_id)).toBe(1);
  });

  it('a sending PutItem whose answer is lost (the claim landed, no POST was sent): the invocation fails before any POST; the redelivery never sends two, and reports Unconfirmed only when none was sent', async () => {
    const body = { ...REQUEST, proxy_id: 'store-lost-claim-proxy' };
    const id = 'msg_store_lost_claim';
    dynamo.fail({ operation: 'PutItem', fault: 'lose-answer', bodyIncludes: '.sending#' });
    const { context, deadline } = contextWithDeadline(DEADLINE_MS);
    const failed = await beforeDeadline(deliver(body, id, context), deadline);
    // The table could not be used before the POST: the invocation fails so that the sender retries.
    expect(failed.statusCode).toBe(503);
    expect(postsTo(world, body.proxy_id)).toBe(0);
    expect(eventsFor(world, body.proxy_id)).toEqual([]);
    dynamo.clear();

    await inProgressExpired(world);
    const again = await deliver(body, id);
    const { outcome } = again.json.outcomes[0];
    expect(['unconfirmed', 'accepted']).toContain(outcome);
    // Unconfirmed is the safe side of an unknown claim: the earlier attempt may have been sending.
    expect(postsTo(world, body.proxy_id)).toBe(outcome === 'accepted' ? 1 : 0);
    expect(eventsFor(world, body.proxy_id)).toHaveLength(1);
  });
});

describe('a hung completion write with the production AWS settings (AWS_REQUEST_TIMEOUT_MS 1000, 3 attempts)', () => {
  let world: World;
  let dynamo: DynamoFaultProxy;
  const TIMEOUT_MS = 12_000;

  beforeAll(async () => {
    dynamo = await startDynamoFaultProxy();
    world = await startWorld({ idempotency: true, env: { AWS_ENDPOINT_URL_DYNAMODB: dynamo.url } });
    dynamo.forwardTo(world.dynalite?.endpoint ?? '');
  });
  afterAll(async () => {
    await world.close();
    await dynamo.close();
  });

  // Fails until functions/upgrade.ts derives its reserve from lib/aws/call-budget.ts, as README
  // "Duplicate suppression" says it does: it keeps a fixed 3 s (PUBLISH_RESERVE_MS) after the TaurusDB
  // call, and one hung completion write alone takes 3 attempts × 1 s plus backoff (awsCallBudgetMs()
  // bounds it at 4.65 s). Middy then answers a bare 500 5 ms before the deadline, and the Failed event
  // goes out only afterwards, when Lambda would already have ended the sandbox.
  it(
    'TaurusDB holds the POST until the handler gives up on it, then the completion write hangs: the invocation still ends before its deadline, its outcome published',
    async () => {
      const body = { ...REQUEST, proxy_id: 'store-budget-proxy' };
      // Longer than any deadline here: the handler's own abandon decides when the call ends.
      world.taurusDb.script(replies.slow(60_000));
      dynamo.fail({ operation: 'UpdateItem', fault: 'hang' });
      const { context, deadline } = contextWithDeadline(TIMEOUT_MS);
      const answer = await beforeDeadline(
        world.invokeHttp(
          signedHttpEvent(world, 'http-api-v2.json', body, { id: 'msg_store_budget' }),
          context,
        ),
        deadline,
      );
      // Middy answers a bare 500 just before the deadline when the handler has not finished by then.
      expect(answer.statusCode).toBe(502);
      expect(answer.json.outcomes[0].outcome).toBe('failed');
      expect(eventsFor(world, body.proxy_id).map((entry) => entry.DetailType)).toEqual([DETAIL_TYPES.failed]);
      expect(postsTo(world, body.proxy_id)).toBe(1);
    },
    TIMEOUT_MS + 10_000,
  );
});
