import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { PublishError } from './errors.ts';

export interface PublishableEvent {
  detailType: string;
  /** Serialised with JSON.stringify into the entry's `Detail`. */
  detail: object;
}

/** The slice of the EventBridge client this module uses; tests pass the real client aimed at a stand-in. */
export interface EventBridgeLike {
  send(command: PutEventsCommand): Promise<{ Entries?: PutEventsResultEntry[] | undefined }>;
}

export interface EventPublisherOptions {
  busName: string;
  source: string;
  client?: EventBridgeLike;
  /** Rounds of PutEvents per entry, the first included. */
  maxAttempts?: number;
  /** Backoff before round n+1 is `random() * min(maxDelayMs, baseDelayMs * 2^(n-1))` (full jitter). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
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
  /** Resolves when every event was accepted; otherwise throws EventsNotPublishedError. */
  publish(events: PublishableEvent[]): Promise<PublishReport>;
}

export const defaults = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  // PutEvents limits: 10 entries per call, and a total entry size (EventBridge's own measure, see
  // entrySize) of 256 KB. Newer API models mention 1 MB; 256 KB is what every partition accepts.
  maxEntriesPerCall: 10,
  maxRequestBytes: 256 * 1024,
};

/**
 * Entry error codes the PutEvents reference lists as retryable (InternalFailure, ThrottlingException),
 * plus the service-side codes EventBridge uses for the same conditions elsewhere. Anything else
 * (AccessDeniedException, InvalidArgument, MalformedDetail, NotAuthorizedFor…) fails the same way again.
 */
const retryableEntryCodes = new Set([
  'ThrottlingException',
  'InternalFailure',
  'InternalException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

const retryableCallErrorNames = new Set([
  ...retryableEntryCodes,
  'Throttling',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

const retryableNetworkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

let sharedClient: EventBridgeClient | undefined;
/**
 * One client per container, created on first use. It takes the SDK's standard settings (AWS_REGION,
 * AWS_ENDPOINT_URL_EVENTBRIDGE, credentials chain); only its own retries are off, because this module
 * retries whole calls and single failed entries under one budget — SDK retries on top would multiply
 * the attempts and hide them from the report.
 */
function defaultClient(): EventBridgeClient {
  sharedClient ??= new EventBridgeClient({ maxAttempts: 1 });
  return sharedClient;
}

interface PendingEntry {
  index: number;
  entry: PutEventsRequestEntry;
  size: number;
  lastError?: { code: string; message: string | undefined };
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const settings = {
    busName: options.busName,
    source: options.source,
    maxAttempts: Math.max(1, options.maxAttempts ?? defaults.maxAttempts),
    baseDelayMs: options.baseDelayMs ?? defaults.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? defaults.maxDelayMs,
    maxEntriesPerCall: defaults.maxEntriesPerCall,
    maxRequestBytes: defaults.maxRequestBytes,
  };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;

  function toEntry(event: PublishableEvent): PutEventsRequestEntry {
    // No `Time`: EventBridge stamps the receipt time, and the detail carries `occurred_at` already.
    return {
      Source: settings.source,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
      EventBusName: settings.busName,
    };
  }

  function backoffMs(round: number): number {
    return Math.floor(random() * Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** (round - 1)));
  }

  return {
    async publish(events) {
      const failed: FailedEvent[] = [];
      let pending: PendingEntry[] = [];
      events.forEach((event, index) => {
        const entry = toEntry(event);
        const size = entrySize(entry);
        if (size > settings.maxRequestBytes) {
          // Never sent: the service would refuse the whole call, and the other entries still go out.
          failed.push({
            index,
            event,
            errorCode: 'EntryTooLarge',
            errorMessage: `entry is ${size} bytes, over the ${settings.maxRequestBytes} byte PutEvents limit`,
          });
        } else {
          pending.push({ index, entry, size });
        }
      });

      let calls = 0;
      let published = 0;
      let lastCause: unknown;
      for (let round = 1; pending.length > 0; round += 1) {
        if (round > 1) await sleep(backoffMs(round - 1));
        const retry: PendingEntry[] = [];
        // Sequential on purpose: an invocation publishes at most a few calls' worth, arrival order then
        // follows list order, and a throttled account is not hit by a burst of parallel calls.
        for (const chunk of chunkEntries(pending, settings.maxEntriesPerCall, settings.maxRequestBytes)) {
          calls += 1;
          const outcome = await sendChunk(options.client ?? defaultClient(), chunk);
          published += outcome.accepted;
          retry.push(...outcome.retryable);
          for (const entry of outcome.permanent) failed.push(toFailed(entry, events));
          lastCause = outcome.cause ?? lastCause;
        }
        if (round >= settings.maxAttempts) {
          for (const entry of retry) failed.push(toFailed(entry, events));
          break;
        }
        pending = retry;
      }

      if (failed.length > 0) {
        failed.sort((a, b) => a.index - b.index);
        throw new EventsNotPublishedError(describeFailure(failed, events.length, settings.busName), failed, {
          cause: lastCause,
        });
      }
      return { calls, published };
    },
  };
}

interface ChunkOutcome {
  accepted: number;
  retryable: PendingEntry[];
  permanent: PendingEntry[];
  /** The SDK error when the whole call failed. */
  cause?: unknown;
}

async function sendChunk(client: EventBridgeLike, chunk: PendingEntry[]): Promise<ChunkOutcome> {
  let results: PutEventsResultEntry[];
  try {
    const output = await client.send(new PutEventsCommand({ Entries: chunk.map(({ entry }) => entry) }));
    results = output.Entries ?? [];
  } catch (error) {
    const code = errorCode(error);
    const message = error instanceof Error ? error.message : undefined;
    for (const entry of chunk) entry.lastError = { code, message };
    return isRetryableCallError(error)
      ? { accepted: 0, retryable: chunk, permanent: [], cause: error }
      : { accepted: 0, retryable: [], permanent: chunk, cause: error };
  }

  const outcome: ChunkOutcome = { accepted: 0, retryable: [], permanent: [] };
  chunk.forEach((entry, position) => {
    // Result entries line up with request entries by index; a missing one cannot count as accepted.
    const result = results[position];
    if (result?.EventId && !result.ErrorCode) {
      outcome.accepted += 1;
      return;
    }
    const code = result?.ErrorCode ?? 'MissingResultEntry';
    entry.lastError = { code, message: result?.ErrorMessage };
    (retryableEntryCodes.has(code) || code === 'MissingResultEntry'
      ? outcome.retryable
      : outcome.permanent
    ).push(entry);
  });
  return outcome;
}

/** Splits in list order into calls of at most `maxEntries` entries and `maxBytes` total entry size. */
function chunkEntries(entries: PendingEntry[], maxEntries: number, maxBytes: number): PendingEntry[][] {
  const chunks: PendingEntry[][] = [];
  let current: PendingEntry[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    if (current.length === maxEntries || currentBytes + entry.size > maxBytes) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += entry.size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** EventBridge's documented measure: UTF-8 bytes of Source, DetailType, Detail and Resources, 14 for Time. */
function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return (
    (entry.Time === undefined ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((total, resource) => total + bytes(resource), 0)
  );
}

function isRetryableCallError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { $metadata, code } = error as Error & { $metadata?: { httpStatusCode?: number }; code?: string };
  const status = $metadata?.httpStatusCode;
  return (
    retryableCallErrorNames.has(error.name) ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    (code !== undefined && retryableNetworkCodes.has(code))
  );
}

function errorCode(error: unknown): string {
  if (!(error instanceof Error)) return 'UnknownError';
  const { code } = error as Error & { code?: unknown };
  // Node's socket errors are plain `Error`s whose useful name is their code (ECONNREFUSED…).
  return error.name === 'Error' && typeof code === 'string' ? code : error.name;
}

function toFailed(entry: PendingEntry, events: PublishableEvent[]): FailedEvent {
  return {
    index: entry.index,
    event: events[entry.index] as PublishableEvent,
    errorCode: entry.lastError?.code ?? 'UnknownError',
    errorMessage: entry.lastError?.message,
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
