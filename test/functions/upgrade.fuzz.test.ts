/**
 * Property-based fuzzing of the whole handler (functions/upgrade.ts), every collaborator running on
 * 127.0.0.1 (test/support/world.ts). What each property covers:
 *
 * 1. HTTP, signed validly so that every body gets past the signature to the parser and the validator:
 *    a. near-valid requests, exactly one thing broken: a field of the wrong type, empty, 100 KB,
 *       hostile ids (`../`, `%2F`, NUL, RTL, emoji, look-alike digits), malformed versions
 *       (`2.24.03.000-beta`, `+1.2`, `1..2`, ` 1.2`), a downgrade, a missing field, an unknown key
 *       (`__proto__`, `constructor`, `prototype`, 100 KB names), nesting 1,000 to 6,000 deep
 *       → 400 naming the broken field (or 422 where the body parser refuses first: a forbidden
 *       key, or nesting deeper than its reviver can recurse);
 *    b. batches: empty, 51 to 120 items, 1 to 50 items with broken ones among them, `upgrades` of
 *       a wrong type, an unknown key beside `upgrades` → 400 naming the path (or 422, as above);
 *    c. random JSON (fc.json and request-shaped records) → 200 with one TaurusDB call per item when the
 *       payload is valid (lib/upgrade/request.ts as the oracle), else 400/422 and nothing upstream;
 *    d. random bytes, random and absent content types, the base64 flag toggled, absent/null/empty
 *       bodies → 415 for a content type that does not say JSON, else 400/422.
 *    Every refusal: a JSON body with a string `message`, no stack trace, no secret, under 32 KB
 *    whatever the input's size, no TaurusDB request and no PutEvents call.
 * 2. Signatures: a valid request whose webhook headers are removed, emptied, garbage, 100 KB, under
 *    another version prefix, a corrupted MAC, a MAC of another body/id/timestamp/key, a malformed
 *    timestamp or a correctly signed one outside the tolerance → 401, nothing upstream. The body is
 *    valid, so any signature that got through would show as a TaurusDB call.
 * 3. Events (not HTTP): random JSON, EventBridge envelopes with random detail-type and detail,
 *    Scheduler input and envelopes carrying a broken request or batch → the invocation rejects with a
 *    ValidationError (naming the field) or UnknownEventError, exposed with status 400; it never
 *    resolves and sends nothing upstream.
 * 4. HTTP events off the contract: a signed, valid request on another path (`/upgrades/../admin`,
 *    random paths) or with another method → 404/405. Fields of JSON types API Gateway never sends
 *    (a direct invocation, e.g. `{"toString": 1}` as a header): a webhook header or the headers
 *    object → 401, rawPath/path → 404, the method → 405, a body that is not a string (an array
 *    holding a valid request's text included) → 400/422; never 500, nothing upstream.
 * 5. Prototype pollution: after every run and at the end, Object.prototype and Array.prototype are
 *    unchanged and `({}).polluted` (the generators' sentinel) is undefined.
 *
 * FUZZ_SCALE=10 multiplies every numRuns, for a longer session; a failure prints fast-check's seed
 * and path to replay it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUpgradePayload } from '../../lib/upgrade/request.ts';
import {
  brokenBatch as anyBrokenBatch,
  brokenRequest as anyBrokenRequest,
  type BrokenPayload,
  brokenValueFor,
  HUGE_LENGTH,
  type JsonObject,
  jsonContentType,
  Labelled,
  nonJsonContentType,
  POLLUTION_SENTINEL,
  preview,
  serialise,
  setOwn,
  validId,
  validRequest,
  validVersionPair,
} from '../support/arbitraries.ts';
import { generateWebhookKey, webhookSignature } from '../support/webhook-signing.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * The arbitraries write out the contract that every request names its proxy and both versions. Since
 * the version read (on by default) can fill in an omitted source_version, that is the contract of
 * `"preflight": false`, so the broken payloads below carry it at their root (a batch passes it on to
 * its items): an omitted source stays broken, and nothing else about them changes.
 */
function withoutVersionRead(broken: Labelled<BrokenPayload>): Labelled<BrokenPayload> {
  const payload = { ...broken.value.payload };
  setOwn(payload, 'preflight', false);
  return new Labelled(broken.label, { ...broken.value, payload });
}
const brokenRequest = anyBrokenRequest.map(withoutVersionRead);
const brokenBatch = anyBrokenBatch.map(withoutVersionRead);

const SCALE = Number(process.env.FUZZ_SCALE ?? '1');
const runs = (count: number) => Math.max(1, Math.round(count * SCALE));
const TIMEOUT_MS = 60_000 * SCALE;

// At most 101 issues, key names cut to 64 characters: an answer stays small however large the input.
const MAX_ANSWER_CHARS = 32 * 1024;
const STACK_TRACE = /(?:\n|\\n)\s+at /;
const FORBIDDEN_KEY = /"(?:__proto__|constructor)"\s*:/;

const HTTP_SAMPLES = ['http-api-v2.json', 'rest-api-v1.json', 'function-url.json'] as const;
const httpSample = fc.constantFrom(...HTTP_SAMPLES);
const smallJson = fc.jsonValue({ maxDepth: 2 });

// biome-ignore lint/suspicious/noExplicitAny: Lambda events of several shapes, edited field by field
type AnyEvent = any;
// biome-ignore lint/suspicious/noExplicitAny: answers are JSON read by assertions
type AnswerJson = any;
interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** What a scheduled rule without input sends as its detail. */
function isEmptyDetail(detail: unknown): boolean {
  return detail === null || (isObject(detail) && Object.keys(detail).length === 0);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isValidPayload(payload: unknown): boolean {
  try {
    parseUpgradePayload(payload);
    return true;
  } catch {
    return false;
  }
}

/** The body as API Gateway hands it over, base64 flag applied: what a webhook signature covers. */
function bodyAsReceived(body: unknown, isBase64Encoded: boolean): string {
  if (typeof body !== 'string') return '';
  return isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

/** Sets (or, with undefined, removes) a header whatever the sample's casing, multi-value copy included. */
function setHeader(event: AnyEvent, name: string, value: unknown): void {
  for (const headers of [event.headers, event.multiValueHeaders]) {
    if (!isObject(headers)) continue;
    const existing = Object.keys(headers).find((key) => key.toLowerCase() === name) ?? name;
    if (value === undefined) delete headers[existing];
    else headers[existing] = headers === event.multiValueHeaders ? [value] : value;
  }
}

function headerOf(event: AnyEvent, name: string): string {
  const key = Object.keys(event.headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? '' : String(event.headers[key]);
}

describe('fuzzing the upgrade handler', () => {
  let world: World;
  let objectPrototypeKeys: string[];
  let arrayPrototypeKeys: string[];

  beforeAll(async () => {
    objectPrototypeKeys = Reflect.ownKeys(Object.prototype).map(String);
    arrayPrototypeKeys = Reflect.ownKeys(Array.prototype).map(String);
    world = await startWorld();
  });
  afterAll(() => world.close());

  function resetUpstream(): void {
    world.forgetTraffic();
  }

  function expectNothingUpstream(): void {
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  }

  function expectNoPollution(): void {
    expect(({} as JsonObject)[POLLUTION_SENTINEL]).toBeUndefined();
    expect(([] as unknown as JsonObject)[POLLUTION_SENTINEL]).toBeUndefined();
  }

  /** A sample carrying `body` exactly as given, signed validly over what the handler will read. */
  function eventWithBody(name: string, body: unknown, isBase64Encoded: boolean): AnyEvent {
    const event = signedHttpEvent(world, name, bodyAsReceived(body, isBase64Encoded));
    event.isBase64Encoded = isBase64Encoded;
    if (body === undefined) delete event.body;
    else event.body = body;
    return event;
  }

  /**
   * Invokes with an HTTP event that must be refused: one of `statuses`, a small JSON answer with a
   * string message, no stack trace or secret, nothing sent upstream.
   */
  async function expectRefusal(
    event: AnyEvent,
    statuses: readonly number[],
  ): Promise<{ status: number; json: AnswerJson }> {
    resetUpstream();
    const answer = (await world.invoke(event)) as HttpResult;
    expect(statuses, answer.body.slice(0, 500)).toContain(answer.statusCode);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.body.length).toBeLessThan(MAX_ANSWER_CHARS);
    expect(answer.body).not.toMatch(STACK_TRACE);
    for (const secret of world.secrets) expect(answer.body).not.toContain(secret);
    const json = JSON.parse(answer.body);
    expect(json.message).toEqual(expect.any(String));
    expectNothingUpstream();
    expectNoPollution();
    return { status: answer.statusCode, json };
  }

  /** A 400 lists its issues, each a path and a message, and names `path` when one is certain. */
  function expectIssueNamed(issues: AnswerJson, path: string | undefined): void {
    expect(Array.isArray(issues) && issues.length > 0, 'a 400 lists its issues').toBe(true);
    for (const issue of issues)
      expect(issue).toEqual({ path: expect.any(String), message: expect.any(String) });
    if (path !== undefined) expect(issues.map((issue: { path: string }) => issue.path)).toContain(path);
  }

  /** 400 from validation; 422 also when the body parser may refuse first (a forbidden key, deep nesting). */
  function validationStatuses(text: string, hasDeepJson: boolean): number[] {
    return FORBIDDEN_KEY.test(text) || hasDeepJson ? [400, 422] : [400];
  }

  /** A 400 naming the broken path, or a 422 where the parser may refuse first; returns the status. */
  async function expectPayloadRefused(name: string, broken: Labelled<BrokenPayload>): Promise<number> {
    const { text, hasDeepJson } = serialise(broken.value.payload);
    const event = signedHttpEvent(world, name, text);
    const { status, json } = await expectRefusal(event, validationStatuses(text, hasDeepJson));
    if (status === 400) expectIssueNamed(json.issues, broken.value.issuePath);
    return status;
  }

  describe('1. HTTP bodies that reach validation', () => {
    it(
      'a near-valid request with one thing broken: 400 naming the field, nothing upstream',
      async () => {
        const statuses = new Set<number>();
        await fc.assert(
          fc.asyncProperty(httpSample, brokenRequest, async (name, broken) => {
            statuses.add(await expectPayloadRefused(name, broken));
          }),
          { numRuns: runs(1500) },
        );
        // Both ways of refusing were exercised: the validator's 400 and the body parser's 422.
        expect([...statuses].sort()).toEqual([400, 422]);
      },
      TIMEOUT_MS,
    );

    it(
      'a batch that is empty, too long, of a wrong type or has broken items: 400 naming the path',
      async () => {
        await fc.assert(
          fc.asyncProperty(httpSample, brokenBatch, async (name, broken) => {
            await expectPayloadRefused(name, broken);
          }),
          { numRuns: runs(500) },
        );
      },
      TIMEOUT_MS,
    );

    const versionField = (which: 'source_version' | 'target_version') =>
      validVersionPair.map((pair) => pair[which]);
    const fieldValue = (field: string, valid: fc.Arbitrary<unknown>) =>
      fc.oneof(
        { arbitrary: valid, weight: 6 },
        { arbitrary: brokenValueFor(field).map((broken) => broken.value), weight: 1 },
        { arbitrary: smallJson, weight: 1 },
      );
    const requestShaped = fc.record(
      {
        project_id: fieldValue('project_id', validId),
        instance_id: fieldValue('instance_id', validId),
        proxy_id: fieldValue('proxy_id', validId),
        source_version: fieldValue('source_version', versionField('source_version')),
        target_version: fieldValue('target_version', versionField('target_version')),
        language: fieldValue('language', fc.constantFrom('en-us', 'zh-cn')),
        change_id: fieldValue('change_id', fc.constant('CHG0031337')),
        // Straight to the upgrade call: with the version read, a random source_version would not match
        // what the TaurusDB stand-in reports, and the request would be refused after the read.
        preflight: fc.constant(false),
      },
      // Missing fields are the near-valid property's business; here they would make valid payloads rare.
      {
        requiredKeys: [
          'project_id',
          'instance_id',
          'proxy_id',
          'source_version',
          'target_version',
          'preflight',
        ],
      },
    );
    const randomJson: fc.Arbitrary<Labelled<{ text: string; hasDeepJson: boolean }>> = fc.oneof(
      fc.json().map((text) => new Labelled(`JSON ${preview(text)}`, { text, hasDeepJson: false })),
      fc
        .oneof(
          requestShaped,
          fc.array(requestShaped, { maxLength: 4 }).map((upgrades) => ({ upgrades })),
        )
        .map((payload) => {
          const serialised = serialise(payload);
          return new Labelled(`request-shaped ${preview(serialised.text)}`, serialised);
        }),
    );

    it(
      'random JSON: TaurusDB is called if and only if the payload is valid',
      async () => {
        let valid = 0;
        await fc.assert(
          fc.asyncProperty(httpSample, randomJson, async (name, generated) => {
            const { text, hasDeepJson } = generated.value;
            const payload: unknown = JSON.parse(text);
            if (!isValidPayload(payload)) {
              const event = signedHttpEvent(world, name, text);
              const { status, json } = await expectRefusal(event, validationStatuses(text, hasDeepJson));
              if (status === 400) expectIssueNamed(json.issues, undefined);
              return;
            }
            valid += 1;
            resetUpstream();
            const answer = (await world.invoke(signedHttpEvent(world, name, text))) as HttpResult;
            expect(answer.statusCode, answer.body.slice(0, 500)).toBe(200);
            const items = isObject(payload) && Array.isArray(payload.upgrades) ? payload.upgrades.length : 1;
            expect(world.taurusDb.upgrades).toHaveLength(items);
          }),
          { numRuns: runs(1500) },
        );
        // The generator is meant to produce both; a change that made it produce only one would go unnoticed.
        expect(valid).toBeGreaterThan(0);
      },
      TIMEOUT_MS,
    );

    interface RawBody {
      body: unknown;
      isBase64Encoded: boolean;
      contentType: string | undefined;
      statuses: number[];
    }
    const utf8 = (text: string) => Buffer.from(text, 'utf8');
    const rawBody: fc.Arbitrary<Labelled<RawBody>> = fc.oneof(
      fc.tuple(validRequest, nonJsonContentType, fc.boolean()).map(
        ([request, contentType, isBase64Encoded]) =>
          new Labelled(`valid request as ${preview(contentType)}`, {
            body: isBase64Encoded
              ? utf8(JSON.stringify(request)).toString('base64')
              : JSON.stringify(request),
            isBase64Encoded,
            contentType,
            statuses: [415],
          }),
      ),
      fc.tuple(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), jsonContentType).map(
        ([bytes, isBase64Encoded, contentType]) =>
          new Labelled(`${bytes.length} random bytes${isBase64Encoded ? ', base64' : ''}`, {
            body: Buffer.from(bytes).toString(isBase64Encoded ? 'base64' : 'utf8'),
            isBase64Encoded,
            contentType,
            statuses: [400, 422],
          }),
      ),
      fc.tuple(fc.string({ unit: 'grapheme', maxLength: 200 }), jsonContentType).map(
        ([text, contentType]) =>
          new Labelled(`text ${preview(text)}`, {
            body: text,
            isBase64Encoded: false,
            contentType,
            statuses: [400, 422],
          }),
      ),
      fc.tuple(validRequest, fc.boolean(), jsonContentType).map(
        ([request, plainDeclaredBase64, contentType]) =>
          new Labelled(plainDeclaredBase64 ? 'plain JSON flagged base64' : 'base64 JSON not flagged base64', {
            body: plainDeclaredBase64
              ? JSON.stringify(request)
              : utf8(JSON.stringify(request)).toString('base64'),
            isBase64Encoded: plainDeclaredBase64,
            contentType,
            statuses: [400, 422],
          }),
      ),
      fc.tuple(fc.constantFrom(undefined, null, ''), fc.boolean(), jsonContentType).map(
        ([body, isBase64Encoded, contentType]) =>
          new Labelled(`body ${String(body)}`, {
            body,
            isBase64Encoded,
            contentType,
            statuses: [400, 422],
          }),
      ),
    );

    it(
      'random bytes, content types, base64 flags and empty bodies: 415 or 400/422, nothing upstream',
      async () => {
        await fc.assert(
          fc.asyncProperty(httpSample, rawBody, async (name, raw) => {
            const { body, isBase64Encoded, contentType, statuses } = raw.value;
            const event = eventWithBody(name, body, isBase64Encoded);
            setHeader(event, 'content-type', contentType);
            await expectRefusal(event, statuses);
          }),
          { numRuns: runs(1000) },
        );
      },
      TIMEOUT_MS,
    );
  });

  describe('2. webhook signatures', () => {
    interface Delivery {
      event: AnyEvent;
      id: string;
      timestamp: number;
      text: string;
      mac: string;
    }
    type Tamper = Labelled<(delivery: Delivery) => void>;
    const WEBHOOK_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
    const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const tamper = (label: string, apply: (delivery: Delivery) => void): Tamper => new Labelled(label, apply);
    const setSignature = (delivery: Delivery, value: string) =>
      setHeader(delivery.event, 'webhook-signature', value);
    const signatureOf = (
      delivery: Delivery,
      changes: Partial<{ id: string; timestamp: number; body: string; key: string }>,
    ) =>
      webhookSignature({
        key: changes.key ?? world.webhookKey,
        id: changes.id ?? delivery.id,
        timestamp: changes.timestamp ?? delivery.timestamp,
        body: changes.body ?? delivery.text,
      });
    const unlike = (candidate: string, original: string) =>
      candidate === original ? `${candidate}x` : candidate;

    const tampering: fc.Arbitrary<Tamper> = fc.oneof(
      fc.subarray([...WEBHOOK_HEADERS], { minLength: 1 }).map((names) =>
        tamper(`without ${names.join(', ')}`, (delivery) => {
          for (const name of names) setHeader(delivery.event, name, undefined);
        }),
      ),
      fc
        .constantFrom(...WEBHOOK_HEADERS)
        .map((name) => tamper(`empty ${name}`, (delivery) => setHeader(delivery.event, name, ''))),
      fc
        .string({ unit: 'binary', maxLength: 200 })
        .map((garbage) =>
          tamper(`signature ${preview(garbage)}`, (delivery) => setSignature(delivery, garbage)),
        ),
      fc
        .integer({ min: HUGE_LENGTH, max: HUGE_LENGTH + 1024 })
        .map((length) =>
          tamper(`signature of ${length} chars`, (delivery) =>
            setSignature(delivery, `v1,${'A'.repeat(length)}`),
          ),
        ),
      fc
        .integer({ min: 2, max: 3_000 })
        .map((count) =>
          tamper(`${count} wrong v1 signatures`, (delivery) =>
            setSignature(delivery, Array.from({ length: count }, () => `v1,${'B'.repeat(43)}=`).join(' ')),
          ),
        ),
      fc
        // Not 'v1,,': a repeated header arrives comma-joined, so separators (commas, spaces) are read as
        // one, and `v1,,<mac>` is the right MAC (lib/http/delivery-headers.ts).
        .constantFrom('v2,', 'V1,', 'v1;', 'v1:', 'v1', 'v1a,', 'v0,', 'v1=', 'v1.', '', 'v1,v1,')
        .map((prefix) =>
          tamper(`the right MAC under prefix ${JSON.stringify(prefix)}`, (delivery) =>
            setSignature(delivery, `${prefix}${delivery.mac}`),
          ),
        ),
      fc
        .tuple(
          fc.constantFrom('flip', 'truncate', 'extend', 'swap case'),
          fc.nat(),
          fc.constantFrom(...BASE64),
        )
        .map(([how, position, character]) =>
          tamper(`the right MAC, ${how}`, (delivery) => {
            const { mac } = delivery;
            const at = position % mac.length;
            const replacement =
              character === mac[at] ? BASE64[(BASE64.indexOf(character) + 1) % 64] : character;
            const swapped = [...mac].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()));
            const corrupted = {
              flip: `${mac.slice(0, at)}${replacement}${mac.slice(at + 1)}`,
              truncate: mac.slice(0, -1),
              extend: `${mac}A`,
              'swap case': unlike(swapped.join(''), mac),
            }[how];
            setSignature(delivery, `v1,${corrupted}`);
          }),
        ),
      validRequest.map((other) =>
        tamper('a valid MAC of another body', (delivery) =>
          setSignature(
            delivery,
            signatureOf(delivery, { body: unlike(JSON.stringify(other), delivery.text) }),
          ),
        ),
      ),
      validRequest.map((other) =>
        tamper('another body under the original signature', (delivery) => {
          const text = unlike(JSON.stringify(other), delivery.text);
          delivery.event.body = delivery.event.isBase64Encoded ? Buffer.from(text).toString('base64') : text;
        }),
      ),
      fc
        .string({ unit: 'binary', minLength: 1, maxLength: 100 })
        .map((id) =>
          tamper(`a valid MAC for webhook-id ${preview(id)}`, (delivery) =>
            setSignature(delivery, signatureOf(delivery, { id: unlike(id, delivery.id) })),
          ),
        ),
      fc
        .oneof(
          fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
          fc.integer({ min: HUGE_LENGTH, max: HUGE_LENGTH + 10 }).map((length) => 'i'.repeat(length)),
        )
        .map((id) =>
          tamper(`webhook-id changed to ${preview(id)}`, (delivery) =>
            setHeader(delivery.event, 'webhook-id', unlike(id, delivery.id)),
          ),
        ),
      fc.constant(
        tamper('a valid MAC under another key', (delivery) =>
          setSignature(delivery, signatureOf(delivery, { key: generateWebhookKey() })),
        ),
      ),
      fc
        .oneof(
          fc.constantFrom(
            ' 1',
            '1 ',
            '+1',
            '-1',
            '1.0',
            '1e9',
            '0x10',
            '01',
            '９',
            'NaN',
            'Infinity',
            '9'.repeat(30),
          ),
          fc.string({ maxLength: 20 }),
        )
        .map((garbage) =>
          tamper(`webhook-timestamp ${preview(garbage)}`, (delivery) =>
            setHeader(delivery.event, 'webhook-timestamp', garbage),
          ),
        ),
      fc
        .tuple(fc.integer({ min: 1, max: 240 }), fc.boolean())
        .map(([seconds, later]) =>
          tamper(
            `webhook-timestamp moved ${later ? '+' : '-'}${seconds} s within the tolerance`,
            (delivery) =>
              setHeader(
                delivery.event,
                'webhook-timestamp',
                String(delivery.timestamp + (later ? seconds : -seconds)),
              ),
          ),
        ),
      fc.tuple(fc.integer({ min: 5 * 60 + 15, max: 10_000_000_000 }), fc.boolean()).map(([seconds, later]) =>
        tamper(`signed ${later ? '+' : '-'}${seconds} s away, outside the tolerance`, (delivery) => {
          const timestamp = Math.max(0, delivery.timestamp + (later ? seconds : -seconds));
          setHeader(delivery.event, 'webhook-timestamp', String(timestamp));
          setSignature(delivery, signatureOf(delivery, { timestamp }));
        }),
      ),
    );

    let deliveries = 0;
    it(
      'a valid request with tampered webhook headers: 401, nothing upstream',
      async () => {
        await fc.assert(
          fc.asyncProperty(httpSample, validRequest, tampering, async (name, request, change) => {
            deliveries += 1;
            const text = JSON.stringify(request);
            const id = `msg_fuzz_${deliveries}`;
            const timestamp = Math.floor(Date.now() / 1000);
            const event = signedHttpEvent(world, name, text, { id, timestamp });
            const mac = headerOf(event, 'webhook-signature').slice('v1,'.length);
            change.value({ event, id, timestamp, text, mac });
            const { json } = await expectRefusal(event, [401]);
            expect(json.message).toBe('webhook signature rejected');
            expect(json.reason).toEqual(expect.any(String));
          }),
          { numRuns: runs(1200) },
        );
      },
      TIMEOUT_MS,
    );
  });

  describe('3. events that are not HTTP', () => {
    interface Expected {
      event: unknown;
      /** The error class the payload calls for, when only one fits. */
      kind: 'validation' | 'unknown' | 'either';
      issuePath: string | undefined;
    }

    async function expectInvocationError(expected: Expected): Promise<void> {
      resetUpstream();
      const settled = await world.invoke(expected.event).then(
        (value) => ({ resolved: true as const, value }),
        (error: unknown) => ({ resolved: false as const, error }),
      );
      if (settled.resolved) expect.fail(`resolved with ${preview(settled.value)}`);
      const { error } = settled;
      const { ValidationError, UnknownEventError } = world.errors;
      const name = error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : String(error);
      if (expected.kind === 'validation') expect(error instanceof ValidationError, name).toBe(true);
      else if (expected.kind === 'unknown') expect(error instanceof UnknownEventError, name).toBe(true);
      else expect(error instanceof ValidationError || error instanceof UnknownEventError, name).toBe(true);
      const appError = error as InstanceType<typeof ValidationError>;
      expect(appError.expose).toBe(true);
      expect(appError.statusCode).toBe(400);
      expect(appError.message.length).toBeLessThan(MAX_ANSWER_CHARS);
      if (error instanceof ValidationError) expectIssueNamed(error.issues, expected.issuePath);
      expectNothingUpstream();
      expectNoPollution();
    }

    /** As the Lambda runtime makes an event: parsed from JSON text. */
    const asEvent = (payload: unknown) => JSON.parse(serialise(payload).text);
    const isHttpShaped = (value: unknown) => isObject(value) && 'requestContext' in value;
    const carriesRequest = (event: unknown) =>
      isObject(event) && (Object.hasOwn(event, 'project_id') || Object.hasOwn(event, 'upgrades'));
    const labelled = (label: string, expected: Expected) => new Labelled(label, expected);

    const randomEvent = fc
      .jsonValue()
      .map((value) => JSON.parse(JSON.stringify(value)) as unknown)
      .filter((value) => !isHttpShaped(value) && !isValidPayload(value))
      .map((event) =>
        labelled(`random ${preview(event)}`, {
          event,
          kind: carriesRequest(event) ? 'validation' : 'either',
          issuePath: undefined,
        }),
      );

    const KNOWN_DETAIL_TYPES = ['Scheduled Event', 'Proxy Upgrade Requested'];
    const unknownDetailType = fc.oneof(
      fc.constantFrom(
        'scheduled event',
        'Scheduled Event ',
        'Proxy Upgrade Requested\u0000',
        'proxy upgrade requested',
        'Proxy Upgrade Accepted',
        'Proxy Upgrade Failed',
        'Object Created',
        '',
      ),
      fc.string({ maxLength: 40 }).filter((type) => !KNOWN_DETAIL_TYPES.includes(type)),
    );
    const invalidDetail = fc.oneof(
      brokenRequest,
      brokenBatch,
      smallJson
        .filter((value) => !isValidPayload(value))
        .map((value) => new Labelled(preview(value), { payload: value as JsonObject, issuePath: undefined })),
    );
    const envelope = (detailType: string, detail: unknown, hasDetail: boolean) => {
      const event = sample(
        detailType === 'Proxy Upgrade Requested'
          ? 'pipeline-event.json'
          : 'scheduled-rule-input-transformer.json',
      );
      event['detail-type'] = detailType;
      if (hasDetail) event.detail = detail;
      else delete event.detail;
      return asEvent(event);
    };
    const envelopeEvent = fc.oneof(
      fc.tuple(fc.constantFrom(...KNOWN_DETAIL_TYPES), invalidDetail).map(([detailType, detail]) =>
        labelled(`"${detailType}" carrying ${detail.label}`, {
          event: envelope(detailType, detail.value.payload, true),
          // A "Scheduled Event" with nothing in detail is a rule without input, told apart from a bad request.
          kind:
            detailType === 'Scheduled Event' && isEmptyDetail(detail.value.payload)
              ? 'unknown'
              : 'validation',
          issuePath: detail.value.issuePath,
        }),
      ),
      fc.constantFrom(...KNOWN_DETAIL_TYPES).map((detailType) =>
        labelled(`"${detailType}" without detail`, {
          event: envelope(detailType, undefined, false),
          kind: 'unknown',
          issuePath: undefined,
        }),
      ),
      fc
        .tuple(
          unknownDetailType,
          fc.oneof(
            validRequest,
            brokenRequest.map((broken) => broken.value.payload),
            smallJson,
          ),
          fc.boolean(),
        )
        .map(([detailType, detail, hasDetail]) =>
          labelled(`detail-type ${preview(detailType)} carrying ${preview(detail)}`, {
            event: envelope(detailType, detail, hasDetail),
            kind: 'unknown',
            issuePath: undefined,
          }),
        ),
    );

    const schedulerEvent = fc.oneof(brokenRequest, brokenBatch).map((broken) => {
      const event = asEvent(broken.value.payload);
      return labelled(`Scheduler input: ${broken.label}`, {
        event,
        // Scheduler input is recognised by its project_id or upgrades key; without either it is of no
        // known kind.
        kind: carriesRequest(event) ? 'validation' : 'unknown',
        issuePath: broken.value.issuePath,
      });
    });

    it(
      'random JSON events: a clean ValidationError or UnknownEventError, nothing upstream',
      async () => {
        await fc.assert(
          fc.asyncProperty(randomEvent, (expected) => expectInvocationError(expected.value)),
          { numRuns: runs(1500) },
        );
      },
      TIMEOUT_MS,
    );

    it(
      'EventBridge envelopes with random detail-type or broken detail: refused, nothing upstream',
      async () => {
        await fc.assert(
          fc.asyncProperty(envelopeEvent, (expected) => expectInvocationError(expected.value)),
          { numRuns: runs(1000) },
        );
      },
      TIMEOUT_MS,
    );

    it(
      'Scheduler input with one thing broken: ValidationError naming the field, nothing upstream',
      async () => {
        await fc.assert(
          fc.asyncProperty(schedulerEvent, (expected) => expectInvocationError(expected.value)),
          { numRuns: runs(1000) },
        );
      },
      TIMEOUT_MS,
    );
  });

  describe('4. HTTP events off the contract', () => {
    // A route's path after any prefix of whole segments (a stage, a base path) is a route
    // (lib/http/routes.ts); /upgrades/oauth is the JWT route, which refuses without claims (401).
    const isUpgradeRoute = (path: string) => /^(?:\/[^/]+)*\/upgrades(?:\/oauth)?\/*$/.test(path);
    const otherPath = fc
      .oneof(
        fc.constantFrom(
          '',
          '/',
          '/upgrade',
          '/upgrades/x',
          '/UPGRADES',
          '/upgrades/../admin',
          '//upgrades',
          '/upgrades%2F',
          ' /upgrades',
        ),
        fc.webPath(),
        fc.string({ unit: 'binary', maxLength: 300 }),
      )
      .filter((path) => !isUpgradeRoute(path));
    const otherMethod = fc
      .oneof(
        fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'CONNECT', ''),
        fc.string({ maxLength: 20 }),
      )
      // Whether `post` is POST is not this property's business.
      .filter((method) => method.toUpperCase() !== 'POST');
    const otherRoute = fc.oneof(
      fc.tuple(fc.constantFrom('function-url.json', 'rest-api-v1.json'), otherPath).map(
        ([name, path]) =>
          new Labelled(`${name}: path ${preview(path)}`, {
            name,
            status: 404,
            apply: (event: AnyEvent) => {
              if (name === 'function-url.json') event.rawPath = path;
              else Object.assign(event, { path, resource: path });
            },
          }),
      ),
      fc.tuple(httpSample, otherMethod).map(
        ([name, method]) =>
          new Labelled(`${name}: method ${preview(method)}`, {
            name,
            status: 405,
            apply: (event: AnyEvent) => {
              if (name === 'rest-api-v1.json') event.httpMethod = method;
              else event.requestContext.http.method = method;
            },
          }),
      ),
    );

    it(
      'a signed, valid request on another path or method: 404 or 405, nothing upstream',
      async () => {
        await fc.assert(
          fc.asyncProperty(otherRoute, validRequest, async (route, request) => {
            const event = signedHttpEvent(world, route.value.name, JSON.stringify(request));
            route.value.apply(event);
            await expectRefusal(event, [route.value.status]);
          }),
          { numRuns: runs(400) },
        );
      },
      TIMEOUT_MS,
    );

    // Values as a JSON-parsed event holds them: plain objects, including ones whose own toString or
    // valueOf keys break String(value).
    const notAString = fc
      .oneof(
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.array(smallJson, { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 8 }), smallJson, { maxKeys: 3 }),
        fc
          .constantFrom('{"toString": 1}', '{"valueOf": {}, "toString": "x"}')
          .map((text) => JSON.parse(text)),
      )
      .map((value) => JSON.parse(JSON.stringify(value)) as unknown);
    interface Target {
      field: string;
      samples: readonly string[];
      values: fc.Arbitrary<unknown>;
      status: number;
      apply(event: AnyEvent, value: unknown): void;
    }
    const header = (name: string): Target => ({
      field: `the ${name} header`,
      samples: HTTP_SAMPLES,
      values: notAString,
      status: 401,
      apply: (event, value) => setHeader(event, name, value),
    });
    const TARGETS: Target[] = [
      header('webhook-id'),
      header('webhook-timestamp'),
      header('webhook-signature'),
      {
        field: 'the headers object',
        samples: HTTP_SAMPLES,
        values: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.array(fc.string())),
        status: 401,
        apply: (event, value) => {
          event.headers = value;
          // REST also carries every header in multiValueHeaders, which is read as well.
          if (event.multiValueHeaders) event.multiValueHeaders = value;
        },
      },
      {
        field: 'rawPath',
        samples: ['function-url.json'],
        values: notAString,
        status: 400,
        apply: (event, value) => {
          event.rawPath = value;
        },
      },
      {
        field: 'path and resource',
        samples: ['rest-api-v1.json'],
        values: notAString,
        status: 400,
        apply: (event, value) => {
          event.path = value;
          event.resource = value;
        },
      },
      {
        field: 'requestContext.http.method',
        samples: ['http-api-v2.json', 'function-url.json'],
        values: notAString,
        status: 400,
        apply: (event, value) => {
          event.requestContext.http.method = value;
        },
      },
      {
        field: 'httpMethod beside requestContext.http',
        samples: ['http-api-v2.json', 'function-url.json'],
        // A null httpMethod is absent: the method is read from requestContext.http, rightly.
        values: notAString.filter((value) => value !== null),
        status: 400,
        apply: (event, value) => {
          event.httpMethod = value;
        },
      },
    ];

    it.each(TARGETS)(
      '$field of a wrong type: $status, never 500, nothing upstream',
      async (target) => {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...target.samples),
            target.values.map((value) => new Labelled(preview(value), value)),
            validRequest,
            async (name, value, request) => {
              const event = signedHttpEvent(world, name, JSON.stringify(request));
              target.apply(event, value.value);
              await expectRefusal(event, [target.status]);
            },
          ),
          { numRuns: runs(150) },
        );
      },
      TIMEOUT_MS,
    );

    it(
      'a body that is not a string (signed as the empty body it reads as): refused, nothing upstream',
      async () => {
        // The signature covers the raw body, which is empty when the body is not a string; whatever the
        // parser then makes of the value (String([text]) is text) must not reach TaurusDB.
        const body = fc.oneof(
          notAString.map((value) => new Labelled(preview(value), value)),
          validRequest.map((request) => new Labelled('[valid request text]', [JSON.stringify(request)])),
        );
        await fc.assert(
          fc.asyncProperty(httpSample, body, fc.boolean(), async (name, value, isBase64Encoded) => {
            await expectRefusal(eventWithBody(name, value.value, isBase64Encoded), [400, 422]);
          }),
          { numRuns: runs(300) },
        );
      },
      TIMEOUT_MS,
    );
  });

  it('5. leaves Object.prototype and Array.prototype as they were after every input above', () => {
    expectNoPollution();
    expect(Reflect.ownKeys(Object.prototype).map(String)).toEqual(objectPrototypeKeys);
    expect(Reflect.ownKeys(Array.prototype).map(String)).toEqual(arrayPrototypeKeys);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });
});
