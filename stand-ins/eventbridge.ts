import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.ts';

/** One PutEvents request entry as it crossed the wire, `Detail` parsed from its JSON string. */
export interface ReceivedEntry {
  Source: string | undefined;
  DetailType: string | undefined;
  Detail: unknown;
  EventBusName: string | undefined;
  /** Present only when the client sent it. */
  Time?: unknown;
}

/**
 * What the next PutEvents calls answer. Rules are kept until used up (`times`, default 1 for call and
 * index rules, unlimited for DetailType rules); several rules of a kind apply in the order scripted.
 */
export type EventBridgeScript =
  /** The whole call fails: 400 with a throttling type, or a 5xx. */
  | { failCall: { status: number; type: string; message?: string }; times?: number }
  /** The next call answers 200 but fails the entries at these indexes of its request. */
  | { failIndexes: number[]; errorCode: string; errorMessage?: string; times?: number }
  /** Every entry of this DetailType fails with this code, in every call, until `times` entries have failed. */
  | { failDetailType: string; errorCode: string; errorMessage?: string; times?: number }
  /**
   * The next call answers 200 with this body as it is, however it lines up with the request: a short
   * `Entries`, an entry with neither `EventId` nor `ErrorCode`, no `Entries` at all. Request entries
   * whose result has an `EventId` and no `ErrorCode` count as accepted.
   */
  | { answer: { Entries?: ResultEntry[]; FailedEntryCount?: number }; times?: number }
  /**
   * The next call is answered only after this delay, then as the other rules say. A client that hangs
   * up meanwhile gets nothing, nothing is accepted, and `hangUps()` counts it.
   */
  | { delayMs: number; times?: number }
  /** The next call is answered with bytes that are not HTTP, and the connection closed. */
  | { notHttp: true; times?: number };

/** One entry of a PutEvents answer. */
export interface ResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

export interface EventBridgeStandIn {
  server: LoopbackServer;
  url: string;
  /** The entries of every PutEvents call received, in order, whether it succeeded or not. */
  calls: ReceivedEntry[][];
  /** Every accepted entry, flattened in the order accepted. */
  events(): ReceivedEntry[];
  script(rule: EventBridgeScript): void;
  /** Calls whose client closed the connection while a `delayMs` rule held the answer back. */
  hangUps(): number;
  /** Forget calls, accepted events, hang-ups and unused rules. */
  reset(): void;
  /** A real SDK client aimed at the stand-in, with the SDK's own retries off as in production. */
  client(): EventBridgeClient;
  close(): Promise<void>;
}

// The limits the real PutEvents enforces; the stand-in refuses what the real service would refuse.
const maxEntriesPerCall = 10;
const maxRequestEntryBytes = 256 * 1024;

const jsonType = 'application/x-amz-json-1.1';

interface ScriptedRule {
  rule: EventBridgeScript;
  remaining: number;
}

interface RawEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Time?: unknown;
  Resources?: string[];
}

export interface EventBridgeStandInOptions {
  /** Called with each entry as it is accepted (the sandbox prints them as they arrive). */
  onAccepted?: (entry: ReceivedEntry) => void;
}

/**
 * EventBridge's PutEvents over AWS JSON 1.1, the protocol @aws-sdk/client-eventbridge uses (POST /,
 * `X-Amz-Target: AWSEvents.PutEvents`, `Content-Type: application/x-amz-json-1.1`). Errors carry their
 * type both in `x-amzn-ErrorType` and `__type`, as AWS sends them. Handler tests reach it through
 * `AWS_ENDPOINT_URL_EVENTBRIDGE`.
 */
export async function startEventBridgeStandIn(
  options: EventBridgeStandInOptions = {},
): Promise<EventBridgeStandIn> {
  const calls: ReceivedEntry[][] = [];
  let accepted: ReceivedEntry[] = [];
  let rules: ScriptedRule[] = [];
  let hangUps = 0;

  function takeRule<T extends EventBridgeScript>(
    matches: (rule: EventBridgeScript) => rule is T,
    applies: (rule: T) => boolean = () => true,
  ): T | undefined {
    const found = rules.find((entry) => entry.remaining > 0 && matches(entry.rule) && applies(entry.rule));
    if (!found) return undefined;
    found.remaining -= 1;
    rules = rules.filter((entry) => entry.remaining > 0);
    return found.rule as T;
  }

  function fail(response: Parameters<typeof sendJson>[0], status: number, type: string, message: string) {
    sendJson(
      response,
      status,
      { __type: type, message },
      { 'content-type': jsonType, 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() },
    );
  }

  function accept(entry: ReceivedEntry) {
    accepted.push(entry);
    options.onAccepted?.(entry);
  }

  /** Applies a delay rule; false when the client hung up during it. */
  async function stillThere(response: ServerResponse): Promise<boolean> {
    const delayRule = takeRule((rule) => 'delayMs' in rule);
    if (!delayRule) return true;
    await sleep(delayRule.delayMs);
    if (!response.destroyed) return true;
    hangUps += 1;
    return false;
  }

  const server = await startLoopbackServer(async (request, response, incoming) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    if (request.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
      fail(response, 400, 'UnknownOperationException', `unsupported ${request.method} ${target}`);
      return;
    }
    if (request.headers['content-type'] !== jsonType) {
      fail(response, 400, 'SerializationException', `content-type must be ${jsonType}`);
      return;
    }
    const { Entries: rawEntries = [] } = JSON.parse(request.body) as { Entries?: RawEntry[] };
    const entries = rawEntries.map(toReceived);
    calls.push(entries);

    if (rawEntries.length < 1 || rawEntries.length > maxEntriesPerCall) {
      fail(
        response,
        400,
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${maxEntriesPerCall}`,
      );
      return;
    }
    if (rawEntries.reduce((total, entry) => total + entrySize(entry), 0) > maxRequestEntryBytes) {
      fail(
        response,
        400,
        'ValidationException',
        'Total size of the entries in the request is over the limit.',
      );
      return;
    }

    if (!(await stillThere(response))) return;
    if (takeRule((rule) => 'notHttp' in rule)) {
      incoming.socket.end('this is not HTTP\r\n\r\n');
      return;
    }

    const callRule = takeRule((rule) => 'failCall' in rule);
    if (callRule) {
      const { status, type, message } = callRule.failCall;
      fail(response, status, type, message ?? (status === 400 ? 'Rate exceeded' : 'Internal failure'));
      return;
    }

    const answerRule = takeRule((rule) => 'answer' in rule);
    if (answerRule) {
      const { Entries: results = [] } = answerRule.answer;
      entries.forEach((entry, index) => {
        if (results[index]?.EventId && !results[index]?.ErrorCode) accept(entry);
      });
      sendJson(response, 200, answerRule.answer, {
        'content-type': jsonType,
        'x-amzn-requestid': randomUUID(),
      });
      return;
    }

    const indexRule = takeRule((rule) => 'failIndexes' in rule);
    const results = rawEntries.map((raw, index) => {
      const rule = indexRule?.failIndexes.includes(index)
        ? indexRule
        : takeRule(
            (candidate) => 'failDetailType' in candidate,
            (candidate) => candidate.failDetailType === raw.DetailType,
          );
      if (rule) {
        return {
          ErrorCode: rule.errorCode,
          ErrorMessage: rule.errorMessage ?? `stand-in failed the entry with ${rule.errorCode}`,
        };
      }
      if (!isJsonObject(raw.Detail)) {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      }
      accept(entries[index] as ReceivedEntry);
      return { EventId: randomUUID() };
    });
    sendJson(
      response,
      200,
      { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results },
      { 'content-type': jsonType, 'x-amzn-requestid': randomUUID() },
    );
  });

  return {
    server,
    url: server.url,
    calls,
    events: () => [...accepted],
    hangUps: () => hangUps,
    script(rule) {
      const times = rule.times ?? ('failDetailType' in rule ? Number.POSITIVE_INFINITY : 1);
      rules.push({ rule, remaining: times });
    },
    reset() {
      calls.length = 0;
      accepted = [];
      rules = [];
      hangUps = 0;
    },
    client: () =>
      new EventBridgeClient({
        endpoint: server.url,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
        maxAttempts: 1,
      }),
    close: () => server.close(),
  };
}

function toReceived(raw: RawEntry): ReceivedEntry {
  const received: ReceivedEntry = {
    Source: raw.Source,
    DetailType: raw.DetailType,
    Detail: parseOrKeep(raw.Detail),
    EventBusName: raw.EventBusName,
  };
  if (raw.Time !== undefined) received.Time = raw.Time;
  return received;
}

function parseOrKeep(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isJsonObject(text: string | undefined): boolean {
  const parsed = parseOrKeep(text);
  return typeof text === 'string' && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
}

/** EventBridge's documented entry size: UTF-8 bytes of Source, DetailType, Detail, Resources, plus 14 for Time. */
function entrySize(entry: RawEntry): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return (
    (entry.Time === undefined ? 0 : 14) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((total, resource) => total + bytes(resource), 0)
  );
}
