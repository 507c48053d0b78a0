import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ReceivedEntry } from '../../stand-ins/eventbridge.ts';
import {
  closedPort,
  type ResettingServer,
  replies,
  startResettingServer,
  type TaurusDbReply,
} from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import {
  CREDENTIALS_SECRET_ID,
  type HttpAnswer,
  sample,
  signedHttpEvent,
  startWorld,
  type World,
} from '../support/world.ts';

/**
 * The fault matrix of docs/reliability.md, through the whole handler: every collaborator is a real
 * server on 127.0.0.1 and each fault is played by one of them. Every delivery goes through
 * `deliverHttp` / `deliverEvent`, which also check the invariant "nothing is dropped silently".
 */

interface Target {
  proxy_id: string;
}

interface PipelineResult {
  outcomes: Array<{
    proxy_id: string;
    outcome: string;
    error?: unknown;
    event_ids: string[];
    replayed: boolean;
  }>;
}

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const PIPELINE_TARGETS: Target[] = sample('pipeline-event.json').detail.upgrades;

const ACCEPTED = 'Proxy Upgrade Accepted';
const FAILED = 'Proxy Upgrade Failed';

type TargetEnd = 'published' | 'invocation failed';

function proxyIdOf(entry: ReceivedEntry): string | undefined {
  return (entry.Detail as { request?: { proxy_id?: string } }).request?.proxy_id;
}

/**
 * The reliability invariant: every target ends either with an event carrying its proxy_id accepted by
 * EventBridge, or with the invocation failed (HTTP 5xx, or a rejected invocation) so that its trigger
 * delivers it again. A target that ended neither way was dropped silently: that throws. Otherwise it
 * returns how each target ended, so every case also pins the branch it expects.
 */
function endingsOf(world: World, targets: readonly Target[], invocationFailed: boolean) {
  const published = new Set(world.eventBridge.events().map(proxyIdOf));
  return Object.fromEntries(
    targets.map((target): [string, TargetEnd] => {
      if (published.has(target.proxy_id)) return [target.proxy_id, 'published'];
      if (invocationFailed) return [target.proxy_id, 'invocation failed'];
      throw new Error(
        `target ${target.proxy_id} was dropped silently: no event accepted and the invocation succeeded`,
      );
    }),
  );
}

function endingAll(targets: readonly Target[], end: TargetEnd): Record<string, TargetEnd> {
  return Object.fromEntries(targets.map((target) => [target.proxy_id, end]));
}

function targetsOf(body: { upgrades?: Target[] } & Partial<Target>): Target[] {
  return body.upgrades ?? [body as Target];
}

async function deliverHttp(
  world: World,
  options: { body?: unknown; id?: string; context?: Context } = {},
): Promise<{ answer: HttpAnswer; endings: Record<string, TargetEnd> }> {
  const body = options.body ?? REQUEST;
  const event = signedHttpEvent(
    world,
    'http-api-v2.json',
    body,
    options.id === undefined ? {} : { id: options.id },
  );
  const answer = await world.invokeHttp(event, options.context);
  return { answer, endings: endingsOf(world, targetsOf(body as Target), answer.statusCode >= 500) };
}

/** The pipeline sample (two targets) under an event id of its own, unless a redelivery repeats one. */
function pipelineEvent(id: string = randomUUID()) {
  const event = sample('pipeline-event.json');
  event.id = id;
  return event;
}

async function deliverEvent(
  world: World,
  event: ReturnType<typeof pipelineEvent> = pipelineEvent(),
): Promise<{ result?: PipelineResult; error?: unknown; endings: Record<string, TargetEnd> }> {
  const settled = await world.invoke(event).then(
    (result) => ({ result: result as PipelineResult, rejected: false as const }),
    (error: unknown) => ({ error, rejected: true as const }),
  );
  const endings = endingsOf(world, event.detail.upgrades, settled.rejected);
  return settled.rejected ? { error: settled.error, endings } : { result: settled.result, endings };
}

function detailTypes(world: World): Array<string | undefined> {
  return world.eventBridge
    .events()
    .map((entry) => entry.DetailType)
    .sort();
}

function eventIdOf(entry: ReceivedEntry | undefined): string | undefined {
  return (entry?.Detail as { event_id?: string } | undefined)?.event_id;
}

/** Every event_id that was offered to EventBridge, accepted or not, each once. */
function eventIdsOffered(world: World): string[] {
  return [...new Set(world.eventBridge.calls.flat().map(eventIdOf))].filter(
    (id): id is string => id !== undefined,
  );
}

interface UpstreamFault {
  name: string;
  /** What TaurusDB answers to one target's attempts, in order; the stand-in accepts after that. */
  answers: () => TaurusDbReply[];
  /** Upgrade requests that reach TaurusDB per target. */
  requests: number;
  /** The HTTP answer to a single-target webhook. */
  status: number;
  outcome: 'accepted' | 'failed';
  /** The outcome's `error`, equal to the Failed event's `error`. */
  error?: Record<string, unknown>;
}

const MAY_HAVE_STARTED = '; the upgrade may have started';

const upstreamFaults: UpstreamFault[] = [
  {
    name: 'TaurusDB 500',
    answers: () => [replies.serverError()],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: { status: 500, error_code: 'DBS.05000000', error_msg: 'Server failure.' },
  },
  {
    name: 'a 502 with an HTML body',
    answers: () => [replies.badGatewayHtml()],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: { status: 502, error_msg: 'TaurusDB answered 502 with a non-JSON body (text/html)' },
  },
  {
    name: 'a 429 (Retry-After: 0), then success',
    answers: () => [replies.throttled('0')],
    requests: 2,
    status: 200,
    outcome: 'accepted',
  },
  {
    name: 'a 429 on every attempt',
    answers: () => [replies.throttled('0'), replies.throttled('0'), replies.throttled('0')],
    requests: 3,
    status: 429,
    outcome: 'failed',
    error: { status: 429, error_code: 'APIGW.0308', error_msg: 'The throttling threshold has been reached' },
  },
  {
    name: 'a connection reset after the request was sent',
    answers: () => [replies.reset()],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: {
      error_msg: expect.stringMatching(
        /^the connection to TaurusDB failed after the request was sent \(\w+\); the upgrade may have started$/,
      ),
    },
  },
  {
    name: 'no answer within the headers timeout',
    // Far past the timeout: undici checks its headers timeout on a coarse (~0.5 s) timer.
    answers: () => [replies.slow(5_000)],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: { error_msg: `TaurusDB did not answer within 200 ms${MAY_HAVE_STARTED}` },
  },
  {
    name: 'a 200 with JSON that is no upgrade result',
    answers: () => [replies.malformed200()],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: {
      status: 200,
      error_msg: expect.stringMatching(
        /^TaurusDB answered 200 with a body that is not an upgrade result \(update_result: .+\); the upgrade may have started$/,
      ),
    },
  },
  {
    name: 'a 200 with a non-JSON body',
    answers: () => [replies.nonJson()],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: {
      status: 200,
      error_msg: `TaurusDB answered 200 with a non-JSON body (text/plain)${MAY_HAVE_STARTED}`,
    },
  },
  {
    name: 'a 200 with an empty body',
    answers: () => [replies.empty()],
    requests: 1,
    status: 502,
    outcome: 'failed',
    error: { status: 200, error_msg: `TaurusDB answered 200 with an empty body${MAY_HAVE_STARTED}` },
  },
];

describe('faults through the handler, without duplicate suppression', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ env: { TAURUSDB_HEADERS_TIMEOUT_MS: '200' } });
  });
  afterAll(() => world.close());
  beforeEach(() => world.forgetTraffic());

  describe('TaurusDB faults', () => {
    it.each(upstreamFaults.map((fault) => [fault.name, fault.status, fault] as const))(
      '%s: webhook answered %i',
      async (_name, _status, fault) => {
        world.taurusDb.script(...fault.answers());
        const { answer, endings } = await deliverHttp(world);

        expect(answer.statusCode).toBe(fault.status);
        expect(world.taurusDb.upgradeRequests()).toBe(fault.requests);
        const [outcome] = answer.json.outcomes;
        expect(outcome.outcome).toBe(fault.outcome);
        expect(outcome.error).toEqual(fault.error);
        const [entry, ...more] = world.eventBridge.events();
        expect(more).toEqual([]);
        expect(entry?.DetailType).toBe(fault.outcome === 'accepted' ? ACCEPTED : FAILED);
        expect((entry?.Detail as { error?: unknown } | undefined)?.error).toEqual(fault.error);
        expect(eventIdOf(entry)).toBe(outcome.event_ids[0]);
        expect(endings).toEqual(endingAll([REQUEST], 'published'));
      },
    );

    it.each(upstreamFaults.map((fault) => [fault.name, fault] as const))(
      '%s: a pipeline event resolves, one event per target',
      async (_name, fault) => {
        for (const _target of PIPELINE_TARGETS) world.taurusDb.script(...fault.answers());
        const { result, error, endings } = await deliverEvent(world);

        expect(error).toBeUndefined();
        expect(result?.outcomes.map((outcome) => outcome.outcome)).toEqual(
          PIPELINE_TARGETS.map(() => fault.outcome),
        );
        expect(result?.outcomes.map((outcome) => outcome.error)).toEqual(
          PIPELINE_TARGETS.map(() => fault.error),
        );
        expect(world.taurusDb.upgradeRequests()).toBe(fault.requests * PIPELINE_TARGETS.length);
        expect(detailTypes(world)).toEqual(
          PIPELINE_TARGETS.map(() => (fault.outcome === 'accepted' ? ACCEPTED : FAILED)),
        );
        expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'published'));
      },
    );

    it('a 200 without any update_result item: 502, and a Failed event says the state is unknown', async () => {
      world.taurusDb.script(replies.items());
      const { answer, endings } = await deliverHttp(world);

      expect(answer.statusCode).toBe(502);
      expect(world.taurusDb.upgradeRequests()).toBe(1);
      expect(answer.json.outcomes[0]).toMatchObject({
        outcome: 'failed',
        update_result: [],
        error: { status: 200, error_msg: expect.stringMatching(/without any update_result item/) },
      });
      expect(world.eventBridge.events()).toMatchObject([
        {
          DetailType: FAILED,
          Detail: {
            error: { status: 200, error_msg: expect.stringMatching(/state of the upgrade is unknown/) },
          },
        },
      ]);
      expect(endings).toEqual(endingAll([REQUEST], 'published'));
    });

    it('logs every failed target at error level with its outcome and event id', async () => {
      world.taurusDb.script(replies.serverError());
      const { answer } = await deliverHttp(world);
      const logged = world
        .logLines()
        .filter(
          (line): line is Record<string, unknown> =>
            typeof line === 'object' && line.message === 'target outcome' && line.level === 'ERROR',
        );
      expect(logged.at(-1)).toMatchObject({
        outcome: 'failed',
        proxy_id: REQUEST.proxy_id,
        upstream_status: 500,
        error_code: 'DBS.05000000',
        event_ids: answer.json.outcomes[0].event_ids,
      });
    });

    it('a pipeline event with an invalid payload rejects with ValidationError before any call', async () => {
      const event = pipelineEvent();
      event.detail.upgrades[1].target_version = '2.23.12.000';
      const failure = await world.invoke(event).catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(world.errors.ValidationError);
      expect((failure as Error).message).toBe(
        'upgrades[1].target_version: must be newer than source_version 2.23.12.000',
      );
      expect(world.taurusDb.requests).toHaveLength(0);
      expect(world.eventBridge.calls).toHaveLength(0);
    });

    it('without IDEMPOTENCY_TABLE a redelivery of the same webhook-id calls TaurusDB again', async () => {
      const id = `msg_faults_${randomUUID()}`;
      world.taurusDb.script(replies.serverError());
      const first = await deliverHttp(world, { id });
      const second = await deliverHttp(world, { id });

      expect([first.answer.statusCode, second.answer.statusCode]).toEqual([502, 200]);
      expect(world.taurusDb.upgradeRequests()).toBe(2);
      expect(second.answer.json.outcomes[0].replayed).toBe(false);
      expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED, ACCEPTED]);
    });
  });

  describe('EventBridge faults', () => {
    it.each([
      ['throttled (400 ThrottlingException)', { status: 400, type: 'ThrottlingException' }],
      ['failing (500 InternalFailure)', { status: 500, type: 'InternalFailure' }],
    ])('a whole PutEvents call %s once is sent again: 200, published once', async (_name, failCall) => {
      world.eventBridge.script({ failCall });
      const { answer, endings } = await deliverHttp(world);

      expect(answer.statusCode).toBe(200);
      expect(world.taurusDb.upgradeRequests()).toBe(1);
      expect(world.eventBridge.calls.map((call) => call.length)).toEqual([1, 1]);
      expect(world.eventBridge.events().map(eventIdOf)).toEqual(answer.json.outcomes[0].event_ids);
      expect(endings).toEqual(endingAll([REQUEST], 'published'));
    });

    it('entries failed inside an accepted call are sent again, the same events', async () => {
      world.eventBridge.script({ failIndexes: [1], errorCode: 'ThrottlingException' });
      const { result, error, endings } = await deliverEvent(world);

      expect(error).toBeUndefined();
      expect(world.eventBridge.calls.map((call) => call.length)).toEqual([2, 1]);
      expect(eventIdOf(world.eventBridge.calls[1]?.[0])).toBe(eventIdOf(world.eventBridge.calls[0]?.[1]));
      expect(world.eventBridge.events().map(eventIdOf).sort()).toEqual(
        result?.outcomes.flatMap((outcome) => outcome.event_ids).sort(),
      );
      expect(world.taurusDb.upgradeRequests()).toBe(2);
      expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'published'));
    });

    it('entries that keep failing: the webhook gets 500 after every round was tried', async () => {
      world.eventBridge.script({ failDetailType: ACCEPTED, errorCode: 'InternalFailure' });
      const { answer, endings } = await deliverHttp(world);

      expect(answer.statusCode).toBe(500);
      expect(answer.json.message).toMatch(/could not be published to EventBridge; retry the same delivery/);
      expect(world.taurusDb.upgradeRequests()).toBe(1);
      // As many rounds as AWS_MAX_ATTEMPTS (3 by default; lib/aws/deadline-reserve.ts).
      expect(world.eventBridge.calls).toHaveLength(3);
      expect(world.eventBridge.events()).toEqual([]);
      expect(endings).toEqual(endingAll([REQUEST], 'invocation failed'));
      const failure = world
        .logLines()
        .filter((line): line is Record<string, unknown> => typeof line === 'object')
        .findLast((line) => line.message === 'request failed');
      expect(JSON.stringify(failure)).toMatch(
        /1 of 1 events not published .*Proxy Upgrade Accepted \(InternalFailure\)/,
      );
    });

    it('entries that keep failing: a pipeline invocation rejects with PublishError', async () => {
      world.eventBridge.script({ failDetailType: ACCEPTED, errorCode: 'InternalFailure' });
      const { error, endings } = await deliverEvent(world);

      expect(error).toBeInstanceOf(world.errors.PublishError);
      expect((error as Error).message).toMatch(/^2 of 2 events not published/);
      expect(world.taurusDb.upgradeRequests()).toBe(2);
      expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'invocation failed'));
    });

    it('a code that cannot succeed on retry (AccessDeniedException) fails at once', async () => {
      world.eventBridge.script({ failDetailType: ACCEPTED, errorCode: 'AccessDeniedException' });
      const { error, endings } = await deliverEvent(world);

      expect(error).toBeInstanceOf(world.errors.PublishError);
      expect(world.eventBridge.calls).toHaveLength(1);
      expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'invocation failed'));
    });

    it('a batch where only some events go out: what was published stays, the invocation still fails', async () => {
      world.taurusDb.script(replies.serverError());
      world.eventBridge.script({ failDetailType: ACCEPTED, errorCode: 'InternalFailure' });
      const { error, endings } = await deliverEvent(world);

      expect(error).toBeInstanceOf(world.errors.PublishError);
      expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED]);
      expect(Object.values(endings).sort()).toEqual(['invocation failed', 'published']);
    });
  });
});

describe('the Lambda deadline', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());

  it('a TaurusDB call unanswered near the deadline is abandoned: 502 "may have started", Failed event published', async () => {
    world.taurusDb.script(replies.slow(10_000));
    // functions/upgrade.ts keeps 3 s for publishing, and waits at least 1 s for TaurusDB.
    const context = lambdaContext({ getRemainingTimeInMillis: () => 3_500 });
    const { answer, endings } = await deliverHttp(world, { context });

    expect(answer.statusCode).toBe(502);
    expect(answer.json.outcomes[0].error).toEqual({
      error_msg: 'the TaurusDB call was abandoned by the caller; the upgrade may have started',
    });
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED]);
    expect(endings).toEqual(endingAll([REQUEST], 'published'));
  });
});

describe('an answer that stalls in the middle of its body', () => {
  let stalling: Server;
  let requests = 0;
  let world: World;

  beforeAll(async () => {
    // Status line, headers and the start of a 200 body, then silence: past the headers timeout, so
    // only the body timeout can end the wait.
    stalling = createServer((request, response) => {
      requests += 1;
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"update_result":[');
      });
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    const { port } = stalling.address() as AddressInfo;
    world = await startWorld({
      env: { TAURUSDB_ENDPOINT: `http://127.0.0.1:${port}`, TAURUSDB_BODY_TIMEOUT_MS: '200' },
    });
  });
  afterAll(async () => {
    await world.close();
    stalling.closeAllConnections();
    await new Promise<void>((resolve) => stalling.close(() => resolve()));
  });

  it('is not retried: 502 "may have started", Failed event published', async () => {
    // Straight to the upgrade call: this server stalls every answer, the version read's too.
    const { answer, endings } = await deliverHttp(world, { body: { ...REQUEST, preflight: false } });

    expect(answer.statusCode).toBe(502);
    expect(answer.json.outcomes[0].error).toEqual({
      error_msg: 'TaurusDB stopped sending its answer for 200 ms; the upgrade may have started',
    });
    expect(requests).toBe(1);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED]);
    expect(endings).toEqual(endingAll([REQUEST], 'published'));
  });
});

describe('a connection reset before the request was written (during the TLS handshake)', () => {
  let resetting: ResettingServer;
  let world: World;

  beforeAll(async () => {
    resetting = await startResettingServer();
    world = await startWorld({ env: { TAURUSDB_ENDPOINT: `https://127.0.0.1:${resetting.port}` } });
  });
  afterAll(async () => {
    await world.close();
    await resetting.close();
  });
  beforeEach(() => world.forgetTraffic());

  const nothingSent = () =>
    `TaurusDB at https://127.0.0.1:${resetting.port} could not be reached (ECONNRESET) after 3 attempts; nothing was sent`;

  // Straight to the upgrade call (preflight false), whose retries are the point here: an upgrade POST
  // is retried only when it provably never left.
  it('is retried, then answered 502 saying nothing was sent', async () => {
    const before = resetting.connections();
    const { answer, endings } = await deliverHttp(world, { body: { ...REQUEST, preflight: false } });

    expect(answer.statusCode).toBe(502);
    expect(resetting.connections() - before).toBe(3);
    // Each connection sent a TLS handshake record (0x16) and no request byte.
    expect(resetting.received.slice(before).map((chunk) => chunk[0])).toEqual([0x16, 0x16, 0x16]);
    expect(Buffer.concat(resetting.received).toString('latin1')).not.toContain('upgrade-version');
    expect(answer.json.outcomes[0].error).toEqual({ error_msg: nothingSent() });
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED]);
    expect(endings).toEqual(endingAll([REQUEST], 'published'));
  });

  it('a pipeline event resolves with a Failed event per target', async () => {
    const before = resetting.connections();
    const event = pipelineEvent();
    event.detail.preflight = false;
    const { result, error, endings } = await deliverEvent(world, event);

    expect(error).toBeUndefined();
    expect(resetting.connections() - before).toBe(3 * PIPELINE_TARGETS.length);
    expect(result?.outcomes.map((outcome) => outcome.error)).toEqual(
      PIPELINE_TARGETS.map(() => ({ error_msg: nothingSent() })),
    );
    expect(detailTypes(world)).toEqual([FAILED, FAILED]);
    expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'published'));
  });
});

describe('Secrets Manager and IAM outages', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ credentials: 'password' });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
    world.secretsManager.failing = false;
  });

  // First in this block on purpose: the container has not read the webhook key yet.
  it('webhook: the signing key cannot be read, so the request is refused with 401 before anything runs', async () => {
    world.secretsManager.failing = true;
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));

    expect(answer.statusCode).toBe(401);
    expect(answer.json).toMatchObject({
      message: 'webhook signature rejected',
      reason: 'webhook signing key could not be read',
    });
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  });

  it('webhook: with the key cached, unreadable credentials give 502 and a Failed CREDENTIALS_UNAVAILABLE event', async () => {
    // A refused payload still verifies the signature: the key is now cached, the credentials are not.
    const refused = signedHttpEvent(world, 'http-api-v2.json', { ...REQUEST, proxy_id: 42 });
    expect((await world.invokeHttp(refused)).statusCode).toBe(400);
    world.secretsManager.failing = true;
    const { answer, endings } = await deliverHttp(world);

    expect(answer.statusCode).toBe(502);
    const error = {
      error_code: 'CREDENTIALS_UNAVAILABLE',
      error_msg: `secret ${CREDENTIALS_SECRET_ID} could not be read from Secrets Manager (ServiceUnavailableException)`,
    };
    expect(answer.json.outcomes[0]).toMatchObject({ outcome: 'failed', error });
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.events()).toMatchObject([{ DetailType: FAILED, Detail: { error } }]);
    expect(endings).toEqual(endingAll([REQUEST], 'published'));
  });

  it('pipeline event: every target ends Failed CREDENTIALS_UNAVAILABLE and the invocation resolves', async () => {
    world.secretsManager.failing = true;
    const { result, error, endings } = await deliverEvent(world);

    expect(error).toBeUndefined();
    expect(result?.outcomes.map((outcome) => outcome.error)).toMatchObject(
      PIPELINE_TARGETS.map(() => ({ error_code: 'CREDENTIALS_UNAVAILABLE' })),
    );
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(detailTypes(world)).toEqual([FAILED, FAILED]);
    expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'published'));
  });

  it('IAM failing the token exchange gives 502 AUTHENTICATION_FAILED; the next delivery gets a token', async () => {
    world.iam.failNext(1, 500);
    const failed = await deliverHttp(world);

    expect(failed.answer.statusCode).toBe(502);
    expect(failed.answer.json.outcomes[0].error).toEqual({
      error_code: 'AUTHENTICATION_FAILED',
      error_msg: `Huawei IAM failed to issue a token for project ${REQUEST.project_id} (500 Internal Server Error)`,
    });
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(failed.endings).toEqual(endingAll([REQUEST], 'published'));

    const next = await deliverHttp(world);
    expect(next.answer.statusCode).toBe(200);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED, ACCEPTED]);
  });
});

describe('faults with duplicate suppression (IDEMPOTENCY_TABLE set)', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());
  beforeEach(() => world.forgetTraffic());

  it('webhook: a publish failure answers 500; the redelivery makes no second TaurusDB call and publishes the same events', async () => {
    const id = `msg_faults_${randomUUID()}`;
    world.eventBridge.script({ failDetailType: ACCEPTED, errorCode: 'InternalFailure' });
    const first = await deliverHttp(world, { id });
    expect(first.answer.statusCode).toBe(500);
    expect(first.endings).toEqual(endingAll([REQUEST], 'invocation failed'));
    const offered = eventIdsOffered(world);
    expect(offered).toHaveLength(1);

    world.eventBridge.reset(); // EventBridge has recovered
    const redelivery = await deliverHttp(world, { id });

    expect(redelivery.answer.statusCode).toBe(200);
    expect(redelivery.answer.json.outcomes[0]).toMatchObject({
      outcome: 'accepted',
      replayed: true,
      event_ids: offered,
    });
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(world.eventBridge.events().map((entry) => [entry.DetailType, eventIdOf(entry)])).toEqual([
      [ACCEPTED, offered[0]],
    ]);
    expect(redelivery.endings).toEqual(endingAll([REQUEST], 'published'));
  });

  it('pipeline event: the rejected invocation is redelivered with the same event id; no second TaurusDB call', async () => {
    const event = pipelineEvent();
    world.eventBridge.script({ failDetailType: ACCEPTED, errorCode: 'InternalFailure' });
    const first = await deliverEvent(world, event);
    expect(first.error).toBeInstanceOf(world.errors.PublishError);
    expect(first.endings).toEqual(endingAll(PIPELINE_TARGETS, 'invocation failed'));
    const offered = eventIdsOffered(world).sort();

    world.eventBridge.reset();
    const redelivery = await deliverEvent(world, pipelineEvent(event.id));

    expect(redelivery.error).toBeUndefined();
    expect(redelivery.result?.outcomes.map((outcome) => outcome.replayed)).toEqual([true, true]);
    expect(world.taurusDb.upgradeRequests()).toBe(PIPELINE_TARGETS.length);
    expect(world.eventBridge.events().map(eventIdOf).sort()).toEqual(offered);
    expect(redelivery.endings).toEqual(endingAll(PIPELINE_TARGETS, 'published'));
  });

  it.each([
    ['TaurusDB 500', replies.serverError()],
    ['a connection reset after the request was sent', replies.reset()],
    ['a 200 with a malformed body', replies.malformed200()],
  ])('%s is stored: the redelivery replays the same Failed event without a call', async (_name, reply) => {
    const id = `msg_faults_${randomUUID()}`;
    world.taurusDb.script(reply);
    const first = await deliverHttp(world, { id });
    const redelivery = await deliverHttp(world, { id });

    expect([first.answer.statusCode, redelivery.answer.statusCode]).toEqual([502, 502]);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    const [before, after] = [first, redelivery].map((delivery) => delivery.answer.json.outcomes[0]);
    expect(after).toEqual({ ...before, replayed: true });
    expect(world.eventBridge.events().map((entry) => [entry.DetailType, eventIdOf(entry)])).toEqual([
      [FAILED, before.event_ids[0]],
      [FAILED, before.event_ids[0]],
    ]);
    expect(redelivery.endings).toEqual(endingAll([REQUEST], 'published'));
  });

  it('a 429 past the retry budget is not stored: the redelivery calls TaurusDB again', async () => {
    const id = `msg_faults_${randomUUID()}`;
    world.taurusDb.script(replies.throttled('0'), replies.throttled('0'), replies.throttled('0'));
    const first = await deliverHttp(world, { id });
    const redelivery = await deliverHttp(world, { id });

    expect([first.answer.statusCode, redelivery.answer.statusCode]).toEqual([429, 200]);
    expect(world.taurusDb.upgradeRequests()).toBe(4);
    expect(redelivery.answer.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: false });
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([FAILED, ACCEPTED]);
  });
});

describe('the duplicate suppression table cannot be reached', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({
      env: {
        IDEMPOTENCY_TABLE: 'taurusdb-upgrade-steps',
        AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${await closedPort()}`,
      },
    });
  });
  afterAll(() => world.close());
  beforeEach(() => world.forgetTraffic());

  it('webhook: 503 without calling TaurusDB, so the sender retries later', async () => {
    const { answer, endings } = await deliverHttp(world);

    expect(answer.statusCode).toBe(503);
    expect(answer.json.message).toMatch(
      /^duplicate suppression table .+ could not be used .+the upgrade was not attempted/,
    );
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
    expect(endings).toEqual(endingAll([REQUEST], 'invocation failed'));
  });

  it('pipeline event: the invocation rejects with IdempotencyStoreError, nothing was attempted', async () => {
    const { error, endings } = await deliverEvent(world);

    expect(error).toBeInstanceOf(world.errors.IdempotencyStoreError);
    expect((error as Error).message).toMatch(/could not be used for .*; the upgrade was not attempted$/);
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(endings).toEqual(endingAll(PIPELINE_TARGETS, 'invocation failed'));
  });
});
