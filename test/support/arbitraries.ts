import fc from 'fast-check';

/**
 * fast-check arbitraries for upgrade requests (README "Upgrade requests"): valid ones, and ones with
 * exactly one thing broken. The rules are written out here (the README's table, and the limits documented in
 * lib/upgrade/request.ts and lib/upgrade/versions.ts) rather than imported from lib/, so a generator never
 * agrees with the code under test by construction: what these call broken is broken by the contract,
 * whatever the parser thinks.
 *
 * Generated values can be 100 KB strings or thousands of levels deep, so the ones that may be printed
 * in a counterexample are wrapped in `Labelled`, which prints as a short description instead.
 */

export type JsonObject = Record<string, unknown>;

export const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
// Dotted numbers: 2 to 6 segments of 1 to 6 digits.
export const VERSION_PATTERN = /^[0-9]{1,6}(?:\.[0-9]{1,6}){1,5}$/;
export const LANGUAGES = ['en-us', 'zh-cn'] as const;
export const ID_FIELDS = ['project_id', 'instance_id', 'proxy_id'] as const;
export const VERSION_FIELDS = ['source_version', 'target_version'] as const;
export const REQUIRED_FIELDS = [...ID_FIELDS, ...VERSION_FIELDS] as const;
/** Free-text fields: 1 to N printable characters (no U+0000–U+001F, U+007F–U+009F). */
export const PRINTABLE_LIMITS = { change_id: 128, requested_by: 256, delivery_id: 128 } as const;
export const KNOWN_FIELDS: readonly string[] = [
  ...REQUIRED_FIELDS,
  'language',
  ...Object.keys(PRINTABLE_LIMITS),
];
export const MAX_BATCH_SIZE = 50;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** Issue paths name a key as is when it is a plain name; any other key is quoted. */
const PLAIN_KEY = /^[A-Za-z0-9_$-]{1,64}$/;

/** The key every prototype-pollution attempt sets; `({}).polluted` must stay undefined. */
export const POLLUTION_SENTINEL = 'polluted';
export const HUGE_LENGTH = 100 * 1024;

/** A generated value that prints as `label` in fast-check's counterexamples. */
export class Labelled<T> {
  readonly label: string;
  readonly value: T;
  constructor(label: string, value: T) {
    this.label = label;
    this.value = value;
  }
  [fc.toStringMethod](): string {
    return this.label;
  }
}

/** JSON nested `depth` levels deep, kept as text: JSON.stringify overflows the stack near 5,000 levels. */
export class DeepJson {
  readonly depth: number;
  readonly kind: 'array' | 'object';
  constructor(depth: number, kind: 'array' | 'object') {
    this.depth = depth;
    this.kind = kind;
  }
  text(): string {
    return this.kind === 'array'
      ? `${'['.repeat(this.depth)}${']'.repeat(this.depth)}`
      : `${'{"a":'.repeat(this.depth)}1${'}'.repeat(this.depth)}`;
  }
  [fc.toStringMethod](): string {
    return `${this.kind}s nested ${this.depth} deep`;
  }
}

const DEEP_PLACEHOLDER = '\u0000deep-json-placeholder-';

/**
 * JSON text of a generated payload, DeepJson values spliced in as text, and whether there were any.
 * Events are made with `JSON.parse(serialise(payload).text)`, as the Lambda runtime makes them, which
 * also keeps a `__proto__` key an own property rather than a prototype.
 */
export function serialise(payload: unknown): { text: string; hasDeepJson: boolean } {
  const deep: DeepJson[] = [];
  const text = JSON.stringify(payload, (_key, value: unknown) => {
    if (!(value instanceof DeepJson)) return value;
    deep.push(value);
    return `${DEEP_PLACEHOLDER}${deep.length - 1}`;
  });
  const spliced = text.replace(/"\\u0000deep-json-placeholder-(\d+)"/g, (_match, index: string) => {
    const value = deep[Number(index)];
    if (value === undefined) throw new Error(`no deep value ${index}`);
    return value.text();
  });
  return { text: spliced, hasDeepJson: deep.length > 0 };
}

/** Sets an own property even for `__proto__`, which plain assignment would turn into a prototype change. */
export function setOwn(target: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A short, printable description of a value, safe for huge strings. */
export function preview(value: unknown): string {
  if (value instanceof DeepJson) return value[fc.toStringMethod]();
  if (typeof value === 'string' && value.length > 40) {
    return `${JSON.stringify(value.slice(0, 24))}… (${value.length} chars)`;
  }
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function isPlainKey(key: string): boolean {
  return PLAIN_KEY.test(key);
}

// ---------------------------------------------------------------------------------------------------
// Valid requests

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-';
export const validId = fc.string({ unit: fc.constantFrom(...ID_ALPHABET), minLength: 1, maxLength: 64 });

function renderVersion(segments: readonly number[], widths: readonly number[]): string {
  return segments
    .map((segment, index) => String(segment).padStart(Math.min(6, widths[index] ?? 1), '0'))
    .join('.');
}

/** Numeric, segment by segment, missing segments counted as 0 (`2.24` = `2.24.0.0`). */
function compareSegments(left: readonly number[], right: readonly number[]): number {
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

const segments = fc.array(fc.integer({ min: 0, max: 999_999 }), { minLength: 2, maxLength: 6 });
const widths = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 6, maxLength: 6 });

/** A source version and a strictly newer target, each zero-padded at random. */
export const validVersionPair = fc
  .record({
    source: fc.array(fc.integer({ min: 0, max: 999_998 }), { minLength: 2, maxLength: 6 }),
    bumpAt: fc.nat(),
    tail: fc.array(fc.integer({ min: 0, max: 999_999 }), { maxLength: 5 }),
    sourceWidths: widths,
    targetWidths: widths,
  })
  .map(({ source, bumpAt, tail, sourceWidths, targetWidths }) => {
    const at = bumpAt % source.length;
    const target = [...source.slice(0, at), (source[at] ?? 0) + 1, ...tail].slice(0, 6);
    if (target.length < 2) target.push(0);
    return {
      source_version: renderVersion(source, sourceWidths),
      target_version: renderVersion(target, targetWidths),
    };
  });

const printableText = (max: number) =>
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: Math.min(max, 40) })
    .filter((text) => text.length <= max && !CONTROL_CHARACTER.test(text));

/** A request the contract accepts: ids, a strictly newer target, and any of the optional fields. */
export const validRequest: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      project_id: validId,
      instance_id: validId,
      proxy_id: validId,
      versions: validVersionPair,
      language: fc.constantFrom(...LANGUAGES),
      change_id: printableText(PRINTABLE_LIMITS.change_id),
      requested_by: printableText(PRINTABLE_LIMITS.requested_by),
      delivery_id: printableText(PRINTABLE_LIMITS.delivery_id),
    },
    { requiredKeys: ['project_id', 'instance_id', 'proxy_id', 'versions'] },
  )
  .map(({ versions, ...rest }) => ({ ...rest, ...versions }));

// ---------------------------------------------------------------------------------------------------
// Broken values, one field at a time. Each is invalid for its field by the contract alone.

const smallJson = fc.jsonValue({ maxDepth: 2 });

/** JSON values that are not strings (null included: optional fields may be absent, not null). */
export const wrongType: fc.Arbitrary<Labelled<unknown>> = fc
  .oneof(
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(smallJson, { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), smallJson, { maxKeys: 4 }),
    fc.constant(JSON.parse(`{"__proto__": {"${POLLUTION_SENTINEL}": true}}`)),
    // Own keys that break any String(value) or template literal applied to the object.
    fc.constant(JSON.parse('{"toString": 1, "valueOf": 1}')),
  )
  .map((value) => new Labelled(`wrong type ${preview(value)}`, value));

const huge = (unit: string, label: string) =>
  fc
    .integer({ min: HUGE_LENGTH, max: HUGE_LENGTH + 4096 })
    .map((length) => new Labelled(`huge ${label} (${length} chars)`, unit.repeat(length).slice(0, length)));

const deepValue: fc.Arbitrary<Labelled<unknown>> = fc
  .tuple(fc.integer({ min: 1_000, max: 6_000 }), fc.constantFrom('array' as const, 'object' as const))
  .map(([depth, kind]) => {
    const value = new DeepJson(depth, kind);
    return new Labelled<unknown>(value[fc.toStringMethod](), value);
  });

/** What must never pass as (or inside) an id: traversal, encodings, controls, Unicode look-alikes. */
export const HOSTILE_FRAGMENTS = [
  '../',
  '..',
  '.',
  '..\\',
  '%2F',
  '%2e%2e%2f',
  '/',
  '\\',
  '?x=1',
  '#',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\u0000',
  '\u202e', // right-to-left override
  '\u200f', // right-to-left mark
  '\u200b', // zero-width space
  '\ufeff',
  'שלום',
  'مرحبا',
  '🙂',
  '👩‍💻',
  '\ud800', // lone surrogate
  'é',
  'Ａ', // full-width A
  '١', // Arabic-Indic digit one
  '_',
  '"',
  "'",
  '<script>',
  '{{x}}',
] as const;

const hostileId = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...ID_ALPHABET), maxLength: 10 }),
    fc.constantFrom(...HOSTILE_FRAGMENTS),
    fc.string({ unit: fc.constantFrom(...ID_ALPHABET), maxLength: 10 }),
  )
  .map(([before, fragment, after]) => before + fragment + after);

const brokenId: fc.Arbitrary<Labelled<unknown>> = fc.oneof(
  wrongType,
  huge('a', 'id'),
  fc
    .oneof(
      fc.constant(''),
      hostileId,
      fc.string({ unit: fc.constantFrom(...ID_ALPHABET), minLength: 65, maxLength: 90 }),
      fc.string({ unit: 'binary', maxLength: 70 }),
    )
    .filter((text) => !ID_PATTERN.test(text))
    .map((text) => new Labelled<unknown>(`id ${preview(text)}`, text)),
);

export const MALFORMED_VERSIONS = [
  '',
  '2.24.03.000-beta',
  '+1.2',
  '-1.2',
  '1..2',
  ' 1.2',
  '1.2 ',
  '1.2\n',
  'v2.24',
  '2',
  '2.',
  '.2',
  '1.2.3.4.5.6.7',
  '1234567.0',
  '1e3.2',
  '0x1.2',
  '１.２',
  '٢.٢٤',
  '1.2\u0000',
  '1,2',
  '1_000.2',
  'Infinity.1',
  '2.24.03.000/../x',
] as const;

const brokenVersion: fc.Arbitrary<Labelled<unknown>> = fc.oneof(
  wrongType,
  huge('1.', 'version'),
  fc
    .oneof(fc.constantFrom(...MALFORMED_VERSIONS), fc.string({ unit: 'binary', maxLength: 50 }))
    .filter((text) => !VERSION_PATTERN.test(text))
    .map((text) => new Labelled<unknown>(`version ${preview(text)}`, text)),
);

const brokenLanguage: fc.Arbitrary<Labelled<unknown>> = fc.oneof(
  wrongType,
  huge('e', 'language'),
  fc
    .oneof(
      fc.constantFrom('', 'EN-US', 'en_us', 'en', 'fr-fr', 'zh-CN', ' en-us', 'en-us ', 'en-us\u0000'),
      fc.string({ maxLength: 12 }),
    )
    .filter((text) => !(LANGUAGES as readonly string[]).includes(text))
    .map((text) => new Labelled<unknown>(`language ${preview(text)}`, text)),
);

const brokenPrintable = (max: number): fc.Arbitrary<Labelled<unknown>> =>
  fc.oneof(
    wrongType,
    huge('x', 'text'),
    fc.constant(new Labelled<unknown>('empty text', '')),
    fc
      .integer({ min: max + 1, max: max + 64 })
      .map((length) => new Labelled<unknown>(`text of ${length} chars (max ${max})`, 'y'.repeat(length))),
    fc
      .tuple(
        fc.string({ maxLength: 20 }),
        fc.oneof(fc.integer({ min: 0x00, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f })),
        fc.string({ maxLength: 20 }),
      )
      .map(([before, code, after]) => before + String.fromCharCode(code) + after)
      .filter((text) => text.length <= max)
      .map((text) => new Labelled<unknown>(`text with a control character ${preview(text)}`, text)),
  );

/** A value the contract refuses for `field` (any field of the request). */
export function brokenValueFor(field: string): fc.Arbitrary<Labelled<unknown>> {
  if ((ID_FIELDS as readonly string[]).includes(field)) return fc.oneof(brokenId, deepValue);
  if ((VERSION_FIELDS as readonly string[]).includes(field)) return fc.oneof(brokenVersion, deepValue);
  if (field === 'language') return brokenLanguage;
  const max = PRINTABLE_LIMITS[field as keyof typeof PRINTABLE_LIMITS];
  if (max === undefined) throw new Error(`no broken values for ${field}`);
  return fc.oneof(brokenPrintable(max), deepValue);
}

/** A version pair whose target is older than or equal to the source (equal written differently, too). */
export const downgradePair = fc
  .tuple(segments, segments, widths, widths, fc.boolean())
  .map(([first, second, firstWidths, secondWidths, equal]) => {
    const [older, newer] = compareSegments(first, second) <= 0 ? [first, second] : [second, first];
    const target = equal ? newer : older;
    return {
      source_version: renderVersion(newer, firstWidths),
      target_version: renderVersion(target, secondWidths),
    };
  });

const EXTRA_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'force',
  'projectId',
  'PROJECT_ID',
  'project_id ',
  'upgrades',
] as const;

export const extraKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...EXTRA_KEYS),
  fc.string({ unit: 'binary', maxLength: 80 }).filter((key) => !KNOWN_FIELDS.includes(key)),
  fc.integer({ min: HUGE_LENGTH, max: HUGE_LENGTH + 100 }).map((length) => 'k'.repeat(length)),
);

const extraValue: fc.Arbitrary<Labelled<unknown>> = fc.oneof(
  fc.constant(new Labelled<unknown>('pollution sentinel', { [POLLUTION_SENTINEL]: true })),
  fc.constant(
    new Labelled<unknown>('prototype with pollution sentinel', { prototype: { [POLLUTION_SENTINEL]: true } }),
  ),
  smallJson.map((value) => new Labelled<unknown>(preview(value), value)),
  deepValue,
);

// ---------------------------------------------------------------------------------------------------
// Breaking a valid request

export interface Breakage {
  /** The field of the request a 400 must name (`undefined` when no single plain path is certain). */
  field: string | undefined;
  apply(request: JsonObject): void;
}

export const breakage: fc.Arbitrary<Labelled<Breakage>> = fc.oneof(
  fc
    .constantFrom(...KNOWN_FIELDS)
    .chain((field) => brokenValueFor(field).map((broken) => ({ field, broken })))
    .map(
      ({ field, broken }) =>
        new Labelled<Breakage>(`${field} ← ${broken.label}`, {
          field,
          apply: (request) => setOwn(request, field, broken.value),
        }),
    ),
  fc.constantFrom(...REQUIRED_FIELDS).map(
    (field) =>
      new Labelled<Breakage>(`${field} removed`, {
        field,
        apply: (request) => {
          delete request[field];
        },
      }),
  ),
  downgradePair.map(
    (pair) =>
      new Labelled<Breakage>(`downgrade ${pair.source_version} → ${pair.target_version}`, {
        field: 'target_version',
        apply: (request) => Object.assign(request, pair),
      }),
  ),
  fc.tuple(extraKey, extraValue).map(
    ([key, value]) =>
      new Labelled<Breakage>(`extra key ${preview(key)} = ${value.label}`, {
        // An `upgrades` key turns a request into a batch, whose issues are about the other keys.
        field: isPlainKey(key) && key !== 'upgrades' ? key : undefined,
        apply: (request) => setOwn(request, key, value.value),
      }),
  ),
);

export interface BrokenPayload {
  payload: JsonObject;
  /** An issue path a 400 must contain, when one is certain. */
  issuePath: string | undefined;
}

/** A valid request with exactly one thing broken. */
export const brokenRequest: fc.Arbitrary<Labelled<BrokenPayload>> = fc
  .tuple(validRequest, breakage)
  .map(([request, broken]) => {
    const payload = { ...request };
    broken.value.apply(payload);
    return new Labelled(`request with ${broken.label}`, { payload, issuePath: broken.value.field });
  });

const brokenItem = fc.tuple(validRequest, breakage).map(([request, broken]) => {
  const item = { ...request };
  broken.value.apply(item);
  return { item, broken };
});

/** Batches the contract refuses: empty, over 50, a wrong `upgrades`, an extra key, or broken items. */
export const brokenBatch: fc.Arbitrary<Labelled<BrokenPayload>> = fc.oneof(
  fc.constant(
    new Labelled<BrokenPayload>('empty batch', { payload: { upgrades: [] }, issuePath: 'upgrades' }),
  ),
  fc
    .tuple(
      fc.integer({ min: MAX_BATCH_SIZE + 1, max: 120 }),
      validRequest,
      fc.array(brokenItem, { maxLength: 3 }),
    )
    .map(([count, request, broken]) => {
      const upgrades: unknown[] = Array.from({ length: count - broken.length }, () => ({ ...request }));
      upgrades.push(...broken.map(({ item }) => item));
      return new Labelled<BrokenPayload>(`batch of ${count} (${broken.length} broken)`, {
        payload: { upgrades },
        issuePath: 'upgrades',
      });
    }),
  fc
    .tuple(
      fc.array(validRequest, { maxLength: MAX_BATCH_SIZE - 1 }),
      fc.array(fc.tuple(fc.nat(), brokenItem), { minLength: 1, maxLength: 3 }),
    )
    .map(([valid, broken]) => {
      const upgrades: unknown[] = [...valid];
      for (const [position, { item }] of broken) {
        if (upgrades.length < MAX_BATCH_SIZE) upgrades.splice(position % (upgrades.length + 1), 0, item);
      }
      const first = broken
        .map(([, { item, broken }]) => ({ index: upgrades.indexOf(item), broken }))
        .filter(({ index }) => index >= 0)
        .sort((left, right) => left.index - right.index)[0];
      const field = first?.broken.value.field;
      return new Labelled<BrokenPayload>(
        `batch of ${upgrades.length}, first broken item [${first?.index}]: ${first?.broken.label}`,
        {
          payload: { upgrades },
          issuePath:
            first === undefined || field === undefined ? undefined : `upgrades[${first.index}].${field}`,
        },
      );
    }),
  wrongType
    .filter(({ value }) => !Array.isArray(value))
    .map(
      (upgrades) =>
        new Labelled<BrokenPayload>(`upgrades ← ${upgrades.label}`, {
          payload: { upgrades: upgrades.value },
          issuePath: 'upgrades',
        }),
    ),
  fc
    .tuple(fc.array(validRequest, { minLength: 1, maxLength: 5 }), extraKey, extraValue)
    .filter(([, key]) => key !== 'upgrades')
    .map(([upgrades, key, value]) => {
      const payload: JsonObject = { upgrades };
      setOwn(payload, key, value.value);
      return new Labelled<BrokenPayload>(`batch with extra key ${preview(key)} = ${value.label}`, {
        payload,
        issuePath: isPlainKey(key) ? key : undefined,
      });
    }),
);

// ---------------------------------------------------------------------------------------------------
// HTTP-level noise

/** Content types that do not say JSON at all: the handler must answer 415 without reading the body. */
export const nonJsonContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    '',
    'text/plain',
    'text/html; charset=utf-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'application/octet-stream',
    'application/jsonp',
    'application/json5',
    '*/*',
  ),
  fc.string({ maxLength: 60 }).filter((type) => !/json/i.test(type)),
);

/** Content types that do say JSON (the body is parsed). */
export const jsonContentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/problem+json; charset=utf-16',
);
