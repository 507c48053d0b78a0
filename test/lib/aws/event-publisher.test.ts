import { Agent } from 'node:http';
import type { LookupFunction } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient, type PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createEventPublisher,
  type EventBridgeLike,
  type EventPublisherOptions,
  EventsNotPublishedError,
  type PublishableEvent,
  publishBudgetMs,
} from '../../../lib/aws/event-publisher.ts';
import { PublishError } from '../../../lib/errors.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../../../stand-ins/eventbridge.ts';
import { startLoopbackServer } from '../../../stand-ins/loopback-server.ts';

const busName = 'proxy-upgrades';
const source = 'taurusdb.proxy-upgrader';

function upgradeEvents(count: number, detailType = 'Proxy Upgrade Accepted'): PublishableEvent[] {
  return Array.from({ length: count }, (_, seq) => ({
    detailType,
    detail: { event_id: `evt-${seq}`, seq, result: { state: 'ACCEPT' } },
  }));
}

function seqs(entries: { Detail: unknown }[]): number[] {
  return entries.map((entry) => (entry.Detail as { seq: number }).seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, offset) => from + offset);
}

const kb256 = 256 * 1024;

/**
 * An event whose entry is exactly `bytes` long by EventBridge's measure (UTF-8 bytes of Source,
 * DetailType and Detail), its padding made of `pad` (a two-byte `é` shows bytes are counted, not characters).
 */
function eventOfSize(seq: number, bytes: number, pad = 'x'): PublishableEvent {
  const detailType = 'Proxy Upgrade Accepted';
  const room = bytes - Buffer.byteLength(source + detailType + JSON.stringify({ seq, padding: '' }));
  const padBytes = Buffer.byteLength(pad);
  const padding = pad.repeat(Math.floor(room / padBytes)) + 'x'.repeat(room % padBytes);
  return { detailType, detail: { seq, padding } };
}

async function publishError(promise: Promise<unknown>): Promise<EventsNotPublishedError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PublishError);
  expect(error).toBeInstanceOf(EventsNotPublishedError);
  return error as EventsNotPublishedError;
}

describe('createEventPublisher', () => {
  let eventBridge: EventBridgeStandIn;
  let sleeps: number[];
  /** The `now` of `clocked` publishers: advanced by their sleeps and calls only. */
  let clock: number;

  beforeAll(async () => {
    eventBridge = await startEventBridgeStandIn();
  });
  afterAll(() => eventBridge.close());
  beforeEach(() => {
    eventBridge.reset();
    sleeps = [];
    clock = 0;
  });

  function publisher(overrides: Partial<EventPublisherOptions> = {}) {
    return createEventPublisher({
      busName,
      source,
      client: eventBridge.client(),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...overrides,
    });
  }

  /** A publisher on a clock that only its sleeps and calls move, each call taking `msPerCall`. */
  function clocked(msPerCall: number): Partial<EventPublisherOptions> {
    const real = eventBridge.client();
    const client: EventBridgeLike = {
      send(command: PutEventsCommand, options?: { abortSignal?: AbortSignal }) {
        clock += msPerCall;
        return real.send(command, options);
      },
    };
    return {
      client,
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    };
  }

  it('sends one PutEvents call over AWS JSON 1.1 with Source, DetailType, Detail JSON and bus name', async () => {
    const events: PublishableEvent[] = [
      { detailType: 'Proxy Upgrade Accepted', detail: { event_id: 'a1', result: { state: 'ACCEPT' } } },
      { detailType: 'Proxy Upgrade Rejected', detail: { event_id: 'r1', result: { state: 'REJECT' } } },
      { detailType: 'Proxy Upgrade Failed', detail: { event_id: 'f1', error: { status: 500 } } },
    ];

    const report = await publisher().publish(events);

    expect(report).toEqual({ calls: 1, published: 3 });
    expect(eventBridge.calls).toEqual([
      [
        {
          Source: source,
          DetailType: 'Proxy Upgrade Accepted',
          Detail: { event_id: 'a1', result: { state: 'ACCEPT' } },
          EventBusName: busName,
        },
        {
          Source: source,
          DetailType: 'Proxy Upgrade Rejected',
          Detail: { event_id: 'r1', result: { state: 'REJECT' } },
          EventBusName: busName,
        },
        {
          Source: source,
          DetailType: 'Proxy Upgrade Failed',
          Detail: { event_id: 'f1', error: { status: 500 } },
          EventBusName: busName,
        },
      ],
    ]);
    const [request] = eventBridge.server.requests;
    expect(request?.headers['x-amz-target']).toBe('AWSEvents.PutEvents');
    expect(request?.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(request?.headers.authorization).toMatch(
      /Credential=AKIDTEST\/\d{8}\/eu-west-1\/events\/aws4_request/,
    );
  });

  it('publishes nothing and calls nothing for an empty list', async () => {
    expect(await publisher().publish([])).toEqual({ calls: 0, published: 0 });
    expect(eventBridge.calls).toHaveLength(0);
  });

  it('sends 25 events as calls of 10, 10 and 5, in list order', async () => {
    const report = await publisher().publish(upgradeEvents(25));

    expect(report).toEqual({ calls: 3, published: 25 });
    expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 10, 5]);
    expect(seqs(eventBridge.events())).toEqual(Array.from({ length: 25 }, (_, seq) => seq));
    expect(sleeps).toEqual([]);
  });

  it('splits a call further when ten entries would pass the 256 KB request limit', async () => {
    const padding = 'x'.repeat(60 * 1024);
    const events = upgradeEvents(10).map((event) => ({ ...event, detail: { ...event.detail, padding } }));

    const report = await publisher().publish(events);

    // Four 60 KB entries fit in 256 KB, five do not; the stand-in refuses an oversized request as AWS does.
    expect(eventBridge.calls.map((call) => call.length)).toEqual([4, 4, 2]);
    expect(report).toEqual({ calls: 3, published: 10 });
    expect(seqs(eventBridge.events())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses an entry over 256 KB without sending it, and still publishes the others', async () => {
    const events = upgradeEvents(3);
    events[1] = { detailType: 'Proxy Upgrade Accepted', detail: { seq: 1, padding: 'x'.repeat(256 * 1024) } };

    const error = await publishError(publisher().publish(events));

    expect(error.message).toBe(
      '1 of 3 events not published to event bus proxy-upgrades: Proxy Upgrade Accepted (EntryTooLarge) x1',
    );
    expect(error.failed.map(({ index, errorCode }) => ({ index, errorCode }))).toEqual([
      { index: 1, errorCode: 'EntryTooLarge' },
    ]);
    expect(seqs(eventBridge.calls.flat())).toEqual([0, 2]);
    expect(seqs(eventBridge.events())).toEqual([0, 2]);
  });

  it('resends only the entries throttled in a partial failure, after a jittered backoff', async () => {
    eventBridge.script({
      failIndexes: [1, 3],
      errorCode: 'ThrottlingException',
      errorMessage: 'Rate exceeded',
    });

    const report = await publisher().publish(upgradeEvents(25));

    expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 10, 5, 2]);
    expect(seqs(eventBridge.calls[3] ?? [])).toEqual([1, 3]);
    expect(seqs(eventBridge.events()).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, seq) => seq),
    );
    expect(eventBridge.events()).toHaveLength(25);
    expect(report).toEqual({ calls: 4, published: 25 });
    // random() = 0.5 of the first backoff window (200 ms).
    expect(sleeps).toEqual([100]);
  });

  it('retries a whole call answered 400 ThrottlingException, then 500s, with growing backoff', async () => {
    eventBridge.script({ failCall: { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' } });
    eventBridge.script({ failCall: { status: 500, type: 'InternalException' } });

    const report = await publisher().publish(upgradeEvents(3));

    expect(eventBridge.calls.map((call) => call.length)).toEqual([3, 3, 3]);
    expect(seqs(eventBridge.events())).toEqual([0, 1, 2]);
    expect(report).toEqual({ calls: 3, published: 3 });
    expect(sleeps).toEqual([100, 200]);
  });

  it('gives up after the bounded rounds on an entry that keeps failing with a retryable code', async () => {
    eventBridge.script({ failDetailType: 'Proxy Upgrade Rejected', errorCode: 'InternalFailure' });
    const events = upgradeEvents(12);
    events[10] = {
      detailType: 'Proxy Upgrade Rejected',
      detail: { seq: 10, secret_marker: 'detail-content-7f3a' },
    };

    const error = await publishError(publisher().publish(events));

    expect(error.message).toBe(
      '1 of 12 events not published to event bus proxy-upgrades: Proxy Upgrade Rejected (InternalFailure) x1',
    );
    expect(error.message).not.toContain('detail-content-7f3a');
    expect(error.failed).toEqual([
      {
        index: 10,
        event: events[10],
        errorCode: 'InternalFailure',
        errorMessage: 'stand-in failed the entry with InternalFailure',
      },
    ]);
    // Round one: 10 + 2 entries; rounds two to four: the one failing entry alone.
    expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 2, 1, 1, 1]);
    expect(eventBridge.events()).toHaveLength(11);
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it('honours maxAttempts and caps the backoff at maxDelayMs', async () => {
    eventBridge.script({ failCall: { status: 503, type: 'ServiceUnavailableException' }, times: 10 });

    const error = await publishError(
      publisher({ maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 500, random: () => 0.999 }).publish(
        upgradeEvents(2),
      ),
    );

    expect(eventBridge.calls).toHaveLength(6);
    expect(sleeps).toEqual([99, 199, 399, 499, 499]);
    expect(error.message).toBe(
      '2 of 2 events not published to event bus proxy-upgrades: Proxy Upgrade Accepted (ServiceUnavailableException) x2',
    );
    expect((error.cause as Error).name).toBe('ServiceUnavailableException');
  });

  it('does not retry an entry refused with a non-retryable code', async () => {
    eventBridge.script({ failDetailType: 'Proxy Upgrade Failed', errorCode: 'AccessDeniedException' });
    const events = [...upgradeEvents(2), { detailType: 'Proxy Upgrade Failed', detail: { seq: 2 } }];

    const error = await publishError(publisher().publish(events));

    expect(eventBridge.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(seqs(eventBridge.events())).toEqual([0, 1]);
    expect(error.message).toBe(
      '1 of 3 events not published to event bus proxy-upgrades: Proxy Upgrade Failed (AccessDeniedException) x1',
    );
  });

  it('counts every event it could not publish as the EMF metric PublishFailed, none when all were published', async () => {
    const metrics = new Metrics({ namespace: 'TaurusDbProxyUpgrader', serviceName: 'test' });
    await publisher({ metrics }).publish(upgradeEvents(3));
    expect(metrics.hasStoredMetrics()).toBe(false);

    eventBridge.script({ failDetailType: 'Proxy Upgrade Failed', errorCode: 'AccessDeniedException' });
    const events = [
      ...upgradeEvents(1),
      { detailType: 'Proxy Upgrade Failed', detail: { seq: 1 } },
      { detailType: 'Proxy Upgrade Failed', detail: { seq: 2 } },
    ];
    await publishError(publisher({ metrics }).publish(events));
    const emf = metrics.serializeMetrics();
    expect(emf._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'PublishFailed', Unit: 'Count' }]);
    expect(emf._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
    expect(emf).toMatchObject({ PublishFailed: 2, service: 'test' });
  });

  it('does not retry a whole call refused with a non-retryable error', async () => {
    eventBridge.script({ failCall: { status: 400, type: 'AccessDeniedException', message: 'not allowed' } });

    const error = await publishError(publisher().publish(upgradeEvents(2)));

    expect(eventBridge.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(error.failed.map(({ errorCode }) => errorCode)).toEqual([
      'AccessDeniedException',
      'AccessDeniedException',
    ]);
  });

  it('retries when EventBridge cannot be reached, then reports the network error code', async () => {
    const gone = await startLoopbackServer(() => undefined);
    await gone.close();
    const stranded = clientAt(gone.url);

    const error = await publishError(
      publisher({ client: stranded, maxAttempts: 3 }).publish(upgradeEvents(1)),
    );

    expect(sleeps).toEqual([100, 200]);
    expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['ECONNREFUSED']);
  });

  describe('the 256 KB limit, measured as EventBridge measures it', () => {
    it('sends an entry of exactly 256 KB, and refuses one a byte larger without sending it', async () => {
      const events = [eventOfSize(0, kb256, 'é'), eventOfSize(1, kb256 + 1, 'é'), eventOfSize(2, 100)];

      const error = await publishError(publisher().publish(events));

      expect(error.failed).toEqual([
        {
          index: 1,
          event: events[1],
          errorCode: 'EntryTooLarge',
          errorMessage: 'entry is 262145 bytes, over the 262144 byte PutEvents limit',
        },
      ]);
      // The stand-in refuses a request over 256 KB as AWS does, so the first call proves the count.
      expect(eventBridge.calls.map(seqs)).toEqual([[0], [2]]);
      expect(seqs(eventBridge.events())).toEqual([0, 2]);
    });

    it('puts entries adding up to exactly 256 KB in one call, and splits at one byte more', async () => {
      const half = kb256 / 2;
      const events = [
        eventOfSize(0, half),
        eventOfSize(1, half),
        eventOfSize(2, half),
        eventOfSize(3, half + 1),
      ];

      const report = await publisher().publish(events);

      expect(eventBridge.calls.map(seqs)).toEqual([[0, 1], [2], [3]]);
      expect(report).toEqual({ calls: 3, published: 4 });
    });
  });

  describe('answers that do not line up with the request', () => {
    it('resends entries whose result is missing, empty, or carries an ErrorCode beside its EventId', async () => {
      eventBridge.script({
        answer: {
          FailedEntryCount: 1,
          Entries: [{ EventId: 'e-0' }, { EventId: 'e-1', ErrorCode: 'InternalFailure' }, {}],
        },
      });

      const report = await publisher().publish(upgradeEvents(4));

      expect(eventBridge.calls.map(seqs)).toEqual([
        [0, 1, 2, 3],
        [1, 2, 3],
      ]);
      expect(seqs(eventBridge.events())).toEqual([0, 1, 2, 3]);
      expect(report).toEqual({ calls: 2, published: 4 });
    });

    it('reports entries an answer without Entries never confirmed as MissingResultEntry', async () => {
      eventBridge.script({ answer: {}, times: 2 });

      const error = await publishError(publisher({ maxAttempts: 2 }).publish(upgradeEvents(2)));

      expect(eventBridge.calls.map(seqs)).toEqual([
        [0, 1],
        [0, 1],
      ]);
      expect(
        error.failed.map(({ index, errorCode, errorMessage }) => ({ index, errorCode, errorMessage })),
      ).toEqual([
        { index: 0, errorCode: 'MissingResultEntry', errorMessage: undefined },
        { index: 1, errorCode: 'MissingResultEntry', errorMessage: undefined },
      ]);
      expect(error.message).toBe(
        '2 of 2 events not published to event bus proxy-upgrades: Proxy Upgrade Accepted (MissingResultEntry) x2',
      );
    });
  });

  describe('what is sent again', () => {
    it.each([
      'ThrottlingException',
      'InternalFailure',
      'InternalException',
      'ServiceUnavailable',
      'ServiceUnavailableException',
    ])('an entry failed with %s', async (errorCode) => {
      eventBridge.script({ failIndexes: [1], errorCode });

      const report = await publisher().publish(upgradeEvents(2));

      expect(eventBridge.calls.map(seqs)).toEqual([[0, 1], [1]]);
      expect(report).toEqual({ calls: 2, published: 2 });
    });

    it.each([
      'ThrottlingException',
      'InternalFailure',
      'InternalException',
      'ServiceUnavailable',
      'ServiceUnavailableException',
      'Throttling',
      'TooManyRequestsException',
      'RequestTimeout',
      'RequestTimeoutException',
      'TimeoutError',
    ])('a whole call answered 400 %s', async (type) => {
      eventBridge.script({ failCall: { status: 400, type } });

      const report = await publisher().publish(upgradeEvents(2));

      expect(eventBridge.calls.map(seqs)).toEqual([
        [0, 1],
        [0, 1],
      ]);
      expect(report).toEqual({ calls: 2, published: 2 });
    });

    it.each([
      [429, 'SlowDown'],
      [500, 'UnmodeledFault'],
    ])('a whole call answered %i, by its status alone (%s is no known name)', async (status, type) => {
      eventBridge.script({ failCall: { status, type } });

      const report = await publisher().publish(upgradeEvents(1));

      expect(report).toEqual({ calls: 2, published: 1 });
      expect(sleeps).toEqual([100]);
    });

    it.each(['EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])(
      'a call whose socket failed with %s before reaching EventBridge',
      async (code) => {
        const client = clientWhoseSocketsFail(code);

        const error = await publishError(publisher({ client, maxAttempts: 2 }).publish(upgradeEvents(1)));

        expect(sleeps).toEqual([100]);
        expect(error.failed.map(({ errorCode }) => errorCode)).toEqual([code]);
      },
    );

    it('not a call to a host that does not exist (ENOTFOUND): it would fail the same way again', async () => {
      const error = await publishError(
        publisher({ client: clientWhoseSocketsFail('ENOTFOUND') }).publish(upgradeEvents(1)),
      );

      expect(sleeps).toEqual([]);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['ENOTFOUND']);
    });

    it('not a call answered with something that is not HTTP', async () => {
      eventBridge.script({ notHttp: true });

      const error = await publishError(publisher().publish(upgradeEvents(1)));

      expect(eventBridge.calls).toHaveLength(1);
      expect(sleeps).toEqual([]);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['HPE_INVALID_CONSTANT']);
    });

    it('not a whole call answered 4xx with an error type of no known name', async () => {
      eventBridge.script({ failCall: { status: 499, type: 'UnmodeledRefusal' } });

      const error = await publishError(publisher().publish(upgradeEvents(1)));

      expect(eventBridge.calls).toHaveLength(1);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['UnmodeledRefusal']);
    });

    it('the failed entries of several calls together, in list order', async () => {
      eventBridge.script({ failIndexes: [8], errorCode: 'ThrottlingException' });
      eventBridge.script({ failIndexes: [2, 0], errorCode: 'ThrottlingException' });

      const report = await publisher().publish(upgradeEvents(15));

      expect(eventBridge.calls.map(seqs)).toEqual([range(0, 10), range(10, 15), [8, 10, 12]]);
      expect(report).toEqual({ calls: 3, published: 15 });
    });
  });

  it('lists failed events in list order whichever round they failed in, grouped in the message', async () => {
    eventBridge.script({ failDetailType: 'Proxy Upgrade Rejected', errorCode: 'InternalFailure' });
    eventBridge.script({ failDetailType: 'Proxy Upgrade Failed', errorCode: 'AccessDeniedException' });
    const events = [
      { detailType: 'Proxy Upgrade Rejected', detail: { seq: 0 } },
      { detailType: 'Proxy Upgrade Failed', detail: { seq: 1 } },
      { detailType: 'Proxy Upgrade Accepted', detail: { seq: 2 } },
    ];

    const error = await publishError(publisher({ maxAttempts: 2 }).publish(events));

    // Index 1 failed for good in round one, index 0 only after the last round.
    expect(error.failed.map(({ index, errorCode }) => ({ index, errorCode }))).toEqual([
      { index: 0, errorCode: 'InternalFailure' },
      { index: 1, errorCode: 'AccessDeniedException' },
    ]);
    expect(error.message).toBe(
      '2 of 3 events not published to event bus proxy-upgrades: ' +
        'Proxy Upgrade Rejected (InternalFailure) x1, Proxy Upgrade Failed (AccessDeniedException) x1',
    );
  });

  it('waits its backoff for real when no sleep is given', async () => {
    eventBridge.script({ failCall: { status: 503, type: 'ServiceUnavailableException' } });
    const started = Date.now();

    await createEventPublisher({
      busName,
      source,
      client: eventBridge.client(),
      baseDelayMs: 80,
      random: () => 0.99,
    }).publish(upgradeEvents(1));

    // floor(0.99 * 80) = 79 ms; the clock's resolution allows a millisecond or so.
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });

  describe('the publish budget', () => {
    it('is attempts times the request timeout plus every backoff at its cap', () => {
      expect(publishBudgetMs()).toBe(5_400);
      expect(publishBudgetMs({ maxAttempts: 3 })).toBe(3_600);
      expect(publishBudgetMs({ maxAttempts: 0 })).toBe(1_000);
      expect(
        publishBudgetMs({ maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 500, requestTimeoutMs: 50 }),
      ).toBe(2_000);
    });

    it('holds the worst case: every call takes the whole request timeout, every backoff its cap', async () => {
      eventBridge.script({ failCall: { status: 503, type: 'ServiceUnavailableException' }, times: 4 });

      const error = await publishError(
        publisher({ ...clocked(1_000), random: () => 0.9999 }).publish(upgradeEvents(1)),
      );

      expect(eventBridge.calls).toHaveLength(4);
      expect(sleeps).toEqual([199, 399, 799]);
      expect(clock).toBe(5_397);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['ServiceUnavailableException']);
    });

    it('gives up rather than wait a backoff that would end at the deadline', async () => {
      eventBridge.script({ failCall: { status: 503, type: 'ServiceUnavailableException' }, times: 3 });
      const events = upgradeEvents(1);

      // 3 attempts: 3600 ms. Calls of 1650 ms: round two starts at 1750, round three would wait
      // 200 ms of the 200 left and find no time for its call.
      const error = await publishError(publisher({ ...clocked(1_650), maxAttempts: 3 }).publish(events));

      expect(eventBridge.calls).toHaveLength(2);
      expect(sleeps).toEqual([100]);
      expect(error.failed).toEqual([
        {
          index: 0,
          event: events[0],
          errorCode: 'PublishBudgetSpent',
          errorMessage: 'not sent: the 3600 ms publish budget is spent',
        },
      ]);
      expect((error.cause as Error).name).toBe('ServiceUnavailableException');
    });

    it('is shared by the calls of a round: a call that would start at the deadline is not sent', async () => {
      // 1 attempt: 1000 ms. Calls of 500 ms: the first two fit, the third would start at 1000.
      const error = await publishError(
        publisher({ ...clocked(500), maxAttempts: 1 }).publish(upgradeEvents(25)),
      );

      expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 10]);
      expect(seqs(eventBridge.events())).toEqual(range(0, 20));
      expect(error.failed.map(({ index }) => index)).toEqual(range(20, 25));
      expect(error.message).toBe(
        '5 of 25 events not published to event bus proxy-upgrades: Proxy Upgrade Accepted (PublishBudgetSpent) x5',
      );
    });

    it('abandons a call still unanswered at the deadline, and closes its connection', async () => {
      eventBridge.script({ delayMs: 400 });
      const started = Date.now();

      const error = await publishError(
        publisher({ maxAttempts: 1, requestTimeoutMs: 60 }).publish(upgradeEvents(1)),
      );

      expect(Date.now() - started).toBeLessThan(300);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['TimeoutError']);
      expect(error.failed[0]?.errorMessage).toMatch(
        /^PutEvents abandoned after \d+ ms, at the end of the publish budget$/,
      );
      await vi.waitFor(() => expect(eventBridge.hangUps()).toBe(1));
      expect(eventBridge.events()).toEqual([]);
    });

    it('bounds a client that has not sent its call yet (credentials still resolving)', async () => {
      const slow = new EventBridgeClient({
        endpoint: eventBridge.url,
        region: 'eu-west-1',
        maxAttempts: 1,
        credentials: async () => {
          await delay(400);
          return { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' };
        },
      });
      const started = Date.now();

      const error = await publishError(
        publisher({ client: slow, maxAttempts: 1, requestTimeoutMs: 60 }).publish(upgradeEvents(1)),
      );

      expect(Date.now() - started).toBeLessThan(300);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['TimeoutError']);
      expect(eventBridge.calls).toEqual([]);
    });
  });

  describe('without a client option', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    function aimDefaultClientAtStandIn() {
      vi.stubEnv('AWS_ENDPOINT_URL_EVENTBRIDGE', eventBridge.url);
      vi.stubEnv('AWS_ENDPOINT_URL', undefined);
      vi.stubEnv('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', undefined);
      vi.stubEnv('AWS_REGION', 'eu-central-1');
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMENV');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'env-secret-access-key');
      vi.stubEnv('AWS_SESSION_TOKEN', undefined);
      vi.stubEnv('AWS_PROFILE', undefined);
    }

    it('uses the SDK standard settings: AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_REGION and env credentials', async () => {
      aimDefaultClientAtStandIn();

      const report = await createEventPublisher({ busName, source }).publish(upgradeEvents(2));

      expect(report).toEqual({ calls: 1, published: 2 });
      expect(seqs(eventBridge.events())).toEqual([0, 1]);
      const [request] = eventBridge.server.requests.slice(-1);
      expect(request?.headers.authorization).toMatch(/Credential=AKIDFROMENV\/\d{8}\/eu-central-1\/events\//);
    });

    it('ends a call at its request timeout (NodeHttpHandler) and sends the entries again', async () => {
      aimDefaultClientAtStandIn();
      eventBridge.script({ delayMs: 1_000 });
      // Budget: 2 x 150 + 200 = 500 ms, so only the handler's own timeout leaves time for round two.
      const options = { busName, source, requestTimeoutMs: 150, maxAttempts: 2, sleep: async () => {} };

      const report = await createEventPublisher(options).publish(upgradeEvents(2));

      expect(report).toEqual({ calls: 2, published: 2 });
      expect(eventBridge.calls.map(seqs)).toEqual([
        [0, 1],
        [0, 1],
      ]);
      await vi.waitFor(() => expect(eventBridge.hangUps()).toBe(1), { timeout: 2_000 });
    });

    it('does not retry on its own: a 503 costs one round, as the budget counts it', async () => {
      aimDefaultClientAtStandIn();
      eventBridge.script({ failCall: { status: 503, type: 'ServiceUnavailableException' } });

      const error = await publishError(
        createEventPublisher({ busName, source, maxAttempts: 1 }).publish(upgradeEvents(1)),
      );

      expect(eventBridge.calls).toHaveLength(1);
      expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['ServiceUnavailableException']);
    });
  });
});

/**
 * A real SDK client whose sockets fail with `code` before connecting: its agent's DNS lookup answers
 * with that error, the way a socket error reaches the SDK from Node.
 */
function clientWhoseSocketsFail(code: string): EventBridgeClient {
  const lookup: LookupFunction = (hostname, _options, callback) => {
    callback(Object.assign(new Error(`${code} ${hostname}`), { code, syscall: 'connect' }), '', 4);
  };
  return new EventBridgeClient({
    endpoint: 'http://events.stand-in.invalid',
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
    maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ lookup }) },
  });
}

/** A real SDK client aimed at a port nothing listens on any more. */
function clientAt(url: string): EventBridgeClient {
  return new EventBridgeClient({
    endpoint: url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
    maxAttempts: 1,
  });
}
