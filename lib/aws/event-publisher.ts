import type { Metrics } from '@aws-lambda-powertools/metrics';
import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { PublishError } from '../errors.ts';
import { metrics as defaultMetrics } from '../observability.ts';
import { type BackoffOptions, backoffCeilingMs, backoffDelayMs } from '../retry.ts';
import { awsErrorName } from './error-name.ts';

export interface PublishableEvent {
  detailType: string;
  /** Serialised with JSON.stringify into the entry's `Detail`. */
  detail: object;
}

/** The slice of the EventBridge client this module uses; tests pass the real client aimed at a stand-in. */
export interface EventBridgeLike {
  send(
    command: PutEventsCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ Entries?: PutEventsResultEntry[] | undefined }>;
}

/** What bounds the time `publish` can take; `publishBudgetMs` turns it into milliseconds. */
export interface PublishTiming {
  /** Rounds of PutEvents per entry, the first included. */
  maxAttempts?: number;
  /** Backoff before round n+1 is `random() * min(maxDelayMs, baseDelayMs * 2^(n-1))` (full jitter). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * The most one PutEvents call of the default client may take, connecting included; past it the call
   * fails as a TimeoutError and its entries go to the next round.
   */
  requestTimeoutMs?: number;
}

export interface EventPublisherOptions extends PublishTiming {
  busName: string;
  source: string;
  /** Without it, a client with the SDK's standard settings and the timeouts below (see createClient). */
  client?: EventBridgeLike;
  /** The most the default client may take to open a connection, so a black-holed endpoint fails early. */
  connectionTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** The clock the publish budget is measured on, in milliseconds (Date.now). */
  now?: () => number;
  /** Where `PublishFailed` is counted (lib/observability.ts's metrics; serverless.yml alarms on it). */
  metrics?: Pick<Metrics, 'addMetric'>;
}

export interface PublishReport {
  /** PutEvents calls made, retries included. */
  calls: number;
  published: number;
}

export interface FailedEvent {
  /** Position of the event in the list given to `publish`. */
  index: number;
  event: PublishableEvent;
  errorCode: string;
  errorMessage: string | undefined;
}

/** Some events could not be published; `failed` lists them (in list order) so the caller can log them. */
export class EventsNotPublishedError extends PublishError {
  readonly failed: FailedEvent[];

  constructor(message: string, failed: FailedEvent[], options: { cause?: unknown } = {}) {
    super(message, options);
    this.failed = failed;
  }
}

export interface EventPublisher {
  /**
   * Resolves when every event was accepted; otherwise throws EventsNotPublishedError. Never takes
   * longer than `publishBudgetMs` of its options.
   */
  publish(events: PublishableEvent[]): Promise<PublishReport>;
}

export const defaults = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  // PutEvents answers in tens of milliseconds; a second is a call that will not answer in time.
  requestTimeoutMs: 1_000,
  connectionTimeoutMs: 500,
  // PutEvents limits: 10 entries per call, and a total entry size (EventBridge's own measure, see
  // toPending) of 256 KB. Newer API models mention 1 MB; 256 KB is what every partition accepts.
  maxEntriesPerCall: 10,
  maxRequestBytes: 256 * 1024,
};

/**
 * Entry error codes the PutEvents reference lists as retryable (InternalFailure, ThrottlingException),
 * plus the service-side codes EventBridge uses for the same conditions elsewhere, plus ours for a
 * result entry the answer left out (it may or may not have been accepted; a duplicate keeps its
 * event_id). Anything else (AccessDeniedException, InvalidArgument, MalformedDetail, NotAuthorizedFor…)
 * fails the same way again.
 */
const retryableEntryCodes = new Set([
  'ThrottlingException',
  'InternalFailure',
  'InternalException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'MissingResultEntry',
]);

/**
 * Whole-call failures worth another round: the codes above as error names, throttling and timeout
 * names, and the socket errors of a request that never reached EventBridge. ECONNRESET, EPIPE and
 * ETIMEDOUT are not listed: the SDK's NodeHttpHandler renames them TimeoutError. Any other socket
 * error (an answer that is not HTTP, an unknown host) would fail the same way again.
 */
const retryableCallCodes = new Set([
  ...retryableEntryCodes,
  'Throttling',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

function timingOf(options: PublishTiming): Required<PublishTiming> {
  return {
    maxAttempts: Math.max(1, options.maxAttempts ?? defaults.maxAttempts),
    baseDelayMs: options.baseDelayMs ?? defaults.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? defaults.maxDelayMs,
    requestTimeoutMs: options.requestTimeoutMs ?? defaults.requestTimeoutMs,
  };
}

/** The one backoff of the project (lib/retry.ts), with the publisher's own base and cap. */
function backoffOf(timing: Required<PublishTiming>): BackoffOptions {
  return { baseMs: timing.baseDelayMs, capMs: timing.maxDelayMs };
}

/**
 * The most time `publish` takes with these options: every round's call running into the request
 * timeout, every backoff at its cap. (With defaults: 4 × 1000 + 200 + 400 + 800 = 5400 ms.) Each
 * publish enforces it as a deadline: no call or backoff starts that would end past it, and a call
 * still running at it is abandoned, so it also holds with more than one call per round, an injected
 * client, or a call stuck where the request timeout does not reach (credentials, a stalled body).
 */
export function publishBudgetMs(options: PublishTiming = {}): number {
  const timing = timingOf(options);
  let total = timing.maxAttempts * timing.requestTimeoutMs;
  for (let round = 1; round < timing.maxAttempts; round += 1)
    total += backoffCeilingMs(round, backoffOf(timing));
  return total;
}

/**
 * The SDK's standard settings (AWS_REGION, AWS_ENDPOINT_URL_EVENTBRIDGE, credentials chain) with its
 * own retries off, because this module retries whole calls and single failed entries under one
 * budget: SDK retries on top would multiply the attempts, break the budget and hide them from the
 * report. NodeHttpHandler only logs a breached requestTimeout unless told to throw.
 */
function createClient(options: EventPublisherOptions): EventBridgeClient {
  return new EventBridgeClient({
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? defaults.connectionTimeoutMs,
      requestTimeout: timingOf(options).requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
}

interface PendingEntry {
  index: number;
  entry: PutEventsRequestEntry;
  size: number;
  lastError?: { code: string; message: string | undefined };
}

/** A publisher's settings and collaborators, resolved once. */
interface Publisher {
  options: EventPublisherOptions;
  timing: Required<PublishTiming>;
  budgetMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  now: () => number;
  client: () => EventBridgeLike;
}

/** What one publish has done so far. */
interface PublishRun {
  calls: number;
  published: number;
  failed: PendingEntry[];
  lastCause?: unknown;
  /** On the `now` clock: when the budget ends. */
  deadline: number;
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  // Created on first use, once per publisher: the functions make one publisher per container.
  let client = options.client;
  const publisher: Publisher = {
    options,
    timing: timingOf(options),
    budgetMs: publishBudgetMs(options),
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    client: () => {
      client ??= createClient(options);
      return client;
    },
  };
  return { publish: (events) => publish(publisher, events) };
}

async function publish(publisher: Publisher, events: PublishableEvent[]): Promise<PublishReport> {
  const { timing, now } = publisher;
  const run: PublishRun = { calls: 0, published: 0, failed: [], deadline: now() + publisher.budgetMs };
  let pending = admit(
    events.map((event, index) => toPending(publisher.options, event, index)),
    run,
  );

  for (let round = 1; pending.length > 0; round += 1) {
    if (round > 1) {
      const waitMs = backoffDelayMs(round - 1, publisher.random, backoffOf(timing));
      // A wait that ends at or past the deadline leaves no time for the call after it.
      if (waitMs >= run.deadline - now()) {
        giveUp(publisher, pending, run);
        break;
      }
      await publisher.sleep(waitMs);
    }
    const retry = await sendRound(publisher, pending, run);
    if (round >= timing.maxAttempts) {
      run.failed.push(...retry);
      break;
    }
    pending = retry;
  }

  if (run.failed.length > 0) {
    const failed = run.failed.sort((a, b) => a.index - b.index).map((entry) => toFailed(entry, events));
    const message = describeFailure(failed, events.length, publisher.options.busName);
    // One count per event that did not reach the bus: the PublishFailuresAlarm's metric.
    (publisher.options.metrics ?? defaultMetrics).addMetric('PublishFailed', 'Count', failed.length);
    throw new EventsNotPublishedError(message, failed, { cause: run.lastCause });
  }
  return { calls: run.calls, published: run.published };
}

function toPending(options: EventPublisherOptions, event: PublishableEvent, index: number): PendingEntry {
  // No `Time`: EventBridge stamps the receipt time, and the detail carries `occurred_at` already.
  const entry = {
    Source: options.source,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    EventBusName: options.busName,
  };
  // EventBridge's measure: UTF-8 bytes of Source, DetailType and Detail (Resources and 14 bytes for
  // Time would count too, but no entry has them); the bus name does not count.
  return { index, entry, size: Buffer.byteLength(entry.Source + entry.DetailType + entry.Detail) };
}

/** The entries that fit in a call; the others fail at once. */
function admit(entries: PendingEntry[], run: PublishRun): PendingEntry[] {
  const admitted: PendingEntry[] = [];
  for (const entry of entries) {
    if (entry.size <= defaults.maxRequestBytes) {
      admitted.push(entry);
      continue;
    }
    // Never sent: the service would refuse the whole call, and the other entries still go out.
    const message = `entry is ${entry.size} bytes, over the ${defaults.maxRequestBytes} byte PutEvents limit`;
    entry.lastError = { code: 'EntryTooLarge', message };
    run.failed.push(entry);
  }
  return admitted;
}

function giveUp(publisher: Publisher, entries: PendingEntry[], run: PublishRun) {
  const message = `not sent: the ${publisher.budgetMs} ms publish budget is spent`;
  for (const entry of entries) entry.lastError = { code: 'PublishBudgetSpent', message };
  run.failed.push(...entries);
}

/** Sends `pending` in calls, in list order; returns the entries worth another round. */
async function sendRound(
  publisher: Publisher,
  pending: PendingEntry[],
  run: PublishRun,
): Promise<PendingEntry[]> {
  const retry: PendingEntry[] = [];
  // Sequential on purpose: an invocation publishes at most a few calls' worth, arrival order then
  // follows list order, and a throttled account is not hit by a burst of parallel calls.
  for (const chunk of chunkEntries(pending)) {
    const leftMs = run.deadline - publisher.now();
    if (leftMs <= 0) {
      giveUp(publisher, chunk, run);
      continue;
    }
    run.calls += 1;
    const outcome = await sendChunk(publisher.client(), chunk, leftMs);
    run.published += outcome.accepted;
    retry.push(...outcome.retryable);
    run.failed.push(...outcome.permanent);
    run.lastCause = outcome.cause ?? run.lastCause;
  }
  return retry;
}

interface ChunkOutcome {
  accepted: number;
  retryable: PendingEntry[];
  permanent: PendingEntry[];
  /** The SDK error when the whole call failed. */
  cause?: unknown;
}

/** What the SDK throws: service errors carry the HTTP status, Node's socket errors a code. */
interface CallError {
  message: string;
  $metadata?: { httpStatusCode?: number };
}

async function sendChunk(
  client: EventBridgeLike,
  chunk: PendingEntry[],
  leftMs: number,
): Promise<ChunkOutcome> {
  let results: PutEventsResultEntry[] | undefined;
  try {
    const command = new PutEventsCommand({ Entries: chunk.map(({ entry }) => entry) });
    results = (await sendWithin(client, command, leftMs)).Entries;
  } catch (error) {
    const { message, $metadata } = error as CallError;
    const errorCode = awsErrorName(error);
    const status = $metadata?.httpStatusCode ?? 0;
    for (const entry of chunk) entry.lastError = { code: errorCode, message };
    return status === 429 || status >= 500 || retryableCallCodes.has(errorCode)
      ? { accepted: 0, retryable: chunk, permanent: [], cause: error }
      : { accepted: 0, retryable: [], permanent: chunk, cause: error };
  }

  const outcome: ChunkOutcome = { accepted: 0, retryable: [], permanent: [] };
  chunk.forEach((entry, position) => {
    // Result entries line up with request entries by index; a missing one cannot count as accepted.
    const result = results?.[position];
    if (result?.EventId && !result.ErrorCode) {
      outcome.accepted += 1;
      return;
    }
    const code = result?.ErrorCode ?? 'MissingResultEntry';
    entry.lastError = { code, message: result?.ErrorMessage };
    (retryableEntryCodes.has(code) ? outcome.retryable : outcome.permanent).push(entry);
  });
  return outcome;
}

/**
 * The call, abandoned when the budget ends: the abort closes its connection, and the race settles
 * even if the client is still resolving credentials or reading a stalled body.
 */
function sendWithin(client: EventBridgeLike, command: PutEventsCommand, leftMs: number) {
  const signal = AbortSignal.timeout(leftMs);
  const abandoned = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => {
      const message = `PutEvents abandoned after ${leftMs} ms, at the end of the publish budget`;
      reject(Object.assign(new Error(message), { name: 'TimeoutError' }));
    });
  });
  return Promise.race([client.send(command, { abortSignal: signal }), abandoned]);
}

/** Splits in list order into calls of at most ten entries and 256 KB of entry size. */
function chunkEntries(entries: PendingEntry[]): PendingEntry[][] {
  const chunks: PendingEntry[][] = [];
  let bytes = 0;
  for (const entry of entries) {
    const current = chunks.at(-1);
    if (
      current &&
      current.length < defaults.maxEntriesPerCall &&
      bytes + entry.size <= defaults.maxRequestBytes
    ) {
      current.push(entry);
      bytes += entry.size;
    } else {
      chunks.push([entry]);
      bytes = entry.size;
    }
  }
  return chunks;
}

function toFailed(entry: PendingEntry, events: PublishableEvent[]): FailedEvent {
  // Every entry that ends up failed was given its error on the way there.
  const { code, message } = entry.lastError as NonNullable<PendingEntry['lastError']>;
  return {
    index: entry.index,
    event: events[entry.index] as PublishableEvent,
    errorCode: code,
    errorMessage: message,
  };
}

/** "2 of 25 events not published to event bus results: Proxy Upgrade Accepted (ThrottlingException) x2" */
function describeFailure(failed: FailedEvent[], total: number, busName: string): string {
  const groups = new Map<string, number>();
  for (const { event, errorCode: code } of failed) {
    const key = `${event.detailType} (${code})`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const summary = [...groups].map(([key, count]) => `${key} x${count}`).join(', ');
  return `${failed.length} of ${total} events not published to event bus ${busName}: ${summary}`;
}
