import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildResultEvents, type TargetOutcome } from '../lib/result-events.ts';
import {
  generateSchemas,
  SCHEMA_DIRECTORY,
  staleSchemaFiles,
  writeSchemaFiles,
} from '../scripts/generate-schemas.ts';

const expectedFiles = [
  'proxy-upgrade-accepted.schema.json',
  'proxy-upgrade-failed.schema.json',
  'proxy-upgrade-rejected.schema.json',
  'upgrade-request.schema.json',
];

type JsonSchema = Record<string, unknown>;

/**
 * The handful of JSON Schema keywords the generated documents use, enough to check that the
 * committed files accept what the function emits and refuse what it refuses (no validator package
 * is a dependency). An unknown keyword fails the check rather than being ignored.
 */
function schemaProblems(schema: JsonSchema, value: unknown, root: JsonSchema, at = '$'): string[] {
  const known = new Set([
    '$schema',
    '$id',
    'title',
    'description',
    '$defs',
    'format',
    ...Object.keys(checks),
  ]);
  const unknown = Object.keys(schema).filter((keyword) => !known.has(keyword));
  if (unknown.length > 0) return [`${at}: unsupported keywords ${unknown.join(', ')}`];
  return Object.entries(checks).flatMap(([keyword, check]) =>
    keyword in schema ? check(schema[keyword], value, { schema, root, at }) : [],
  );
}

interface Where {
  schema: JsonSchema;
  root: JsonSchema;
  at: string;
}
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const typeOf = (value: unknown) =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : Number.isInteger(value)
        ? 'integer'
        : typeof value;
const checks: Record<string, (keyword: unknown, value: unknown, where: Where) => string[]> = {
  $ref: (ref, value, { root, at }) =>
    schemaProblems(
      (root.$defs as Record<string, JsonSchema>)[String(ref).replace('#/$defs/', '')] ?? {},
      value,
      root,
      at,
    ),
  anyOf: (options, value, { root, at }) =>
    (options as JsonSchema[]).some((option) => schemaProblems(option, value, root, at).length === 0)
      ? []
      : [`${at}: matches no anyOf option`],
  type: (type, value, { at }) => {
    const allowed = [type].flat();
    const actual = typeOf(value);
    return allowed.includes(actual) || (actual === 'integer' && allowed.includes('number'))
      ? []
      : [`${at}: not ${type}`];
  },
  enum: (values, value, { at }) => ((values as unknown[]).includes(value) ? [] : [`${at}: not in enum`]),
  const: (constant, value, { at }) => (value === constant ? [] : [`${at}: not ${constant}`]),
  pattern: (pattern, value, { at }) =>
    typeof value !== 'string' || new RegExp(String(pattern), 'u').test(value)
      ? []
      : [`${at}: does not match`],
  minLength: (min, value, { at }) =>
    typeof value !== 'string' || value.length >= Number(min) ? [] : [`${at}: short`],
  maxLength: (max, value, { at }) =>
    typeof value !== 'string' || value.length <= Number(max) ? [] : [`${at}: long`],
  minimum: (min, value, { at }) =>
    typeof value !== 'number' || value >= Number(min) ? [] : [`${at}: small`],
  maximum: (max, value, { at }) => (typeof value !== 'number' || value <= Number(max) ? [] : [`${at}: big`]),
  minItems: (min, value, { at }) =>
    !Array.isArray(value) || value.length >= Number(min) ? [] : [`${at}: few`],
  maxItems: (max, value, { at }) =>
    !Array.isArray(value) || value.length <= Number(max) ? [] : [`${at}: many`],
  items: (items, value, { root, at }) =>
    Array.isArray(value)
      ? value.flatMap((item, i) => schemaProblems(items as JsonSchema, item, root, `${at}[${i}]`))
      : [],
  required: (names, value, { at }) =>
    isObject(value)
      ? (names as string[]).filter((name) => !(name in value)).map((name) => `${at}.${name}: missing`)
      : [],
  properties: (properties, value, { root, at }) =>
    isObject(value)
      ? Object.entries(properties as Record<string, JsonSchema>).flatMap(([name, property]) =>
          name in value ? schemaProblems(property, value[name], root, `${at}.${name}`) : [],
        )
      : [],
  additionalProperties: (allowed, value, { schema, at }) =>
    allowed === false && isObject(value)
      ? Object.keys(value)
          .filter((name) => !Object.hasOwn((schema.properties ?? {}) as object, name))
          .map((name) => `${at}.${name}: not allowed`)
      : [],
};

async function committed(fileName: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(SCHEMA_DIRECTORY, fileName), 'utf8'));
}

describe('docs/schemas', () => {
  it('holds exactly the generated files, each identical to what the schemas generate now', async () => {
    // On failure run `node scripts/generate-schemas.ts` and commit the result.
    expect((await readdir(SCHEMA_DIRECTORY)).sort()).toStrictEqual(expectedFiles);
    for (const [fileName, content] of generateSchemas()) {
      expect(await readFile(join(SCHEMA_DIRECTORY, fileName), 'utf8'), fileName).toBe(content);
    }
  });

  it('names every document and says what it is', async () => {
    for (const fileName of expectedFiles) {
      const document = await committed(fileName);
      expect(Object.keys(document).slice(0, 4)).toStrictEqual(['$schema', '$id', 'title', 'description']);
      expect(document.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(document.$id).toBe(`urn:taurusdb-proxy-upgrader:schema:${fileName.replace('.schema.json', '')}`);
    }
  });

  it('states the request rules, and says which one JSON Schema cannot express', async () => {
    const document = await committed('upgrade-request.schema.json');
    expect(document.description).toMatch(/target_version must be newer than source_version.*cannot express/);
    const defs = document.$defs as Record<string, Record<string, unknown>>;
    const upgradeRequest = defs.UpgradeRequest as {
      additionalProperties: boolean;
      required: string[];
      properties: Record<string, Record<string, unknown>>;
    };
    expect(upgradeRequest.additionalProperties).toBe(false);
    expect(upgradeRequest.required).toStrictEqual([
      'project_id',
      'instance_id',
      'proxy_id',
      'source_version',
      'target_version',
    ]);
    expect(upgradeRequest.properties.proxy_id).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9-]+$',
    });
    expect(upgradeRequest.properties.target_version).toMatchObject({
      pattern: '^[0-9]{1,6}(?:\\.[0-9]{1,6}){1,5}$',
    });
    expect(upgradeRequest.properties.language).toMatchObject({ enum: ['en-us', 'zh-cn'] });
    expect(document.anyOf).toStrictEqual([
      { $ref: '#/$defs/UpgradeRequest' },
      expect.objectContaining({
        additionalProperties: false,
        required: ['upgrades'],
        properties: {
          upgrades: expect.objectContaining({
            type: 'array',
            minItems: 1,
            maxItems: 50,
            items: { $ref: '#/$defs/UpgradeRequest' },
          }),
        },
      }),
    ]);
  });

  it('puts result only on Accepted/Rejected and error only on Failed', async () => {
    for (const [fileName, part] of [
      ['proxy-upgrade-accepted.schema.json', 'result'],
      ['proxy-upgrade-rejected.schema.json', 'result'],
      ['proxy-upgrade-failed.schema.json', 'error'],
    ] as const) {
      const document = await committed(fileName);
      expect(document.additionalProperties, fileName).toBe(false);
      expect(document.required, fileName).toStrictEqual([
        'event_id',
        'request',
        part,
        'trigger',
        'occurred_at',
      ]);
    }
  });
});

describe('the committed JSON Schemas, read as JSON Schema', () => {
  const request = {
    project_id: '054e292c9880d4992f02c0196d3ea468',
    instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
    proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
    source_version: '2.23.12.000',
    target_version: '2.24.03.000',
  };
  const fileFor = {
    'Proxy Upgrade Accepted': 'proxy-upgrade-accepted.schema.json',
    'Proxy Upgrade Rejected': 'proxy-upgrade-rejected.schema.json',
    'Proxy Upgrade Failed': 'proxy-upgrade-failed.schema.json',
  } as const;

  it('accept every event detail the builder makes', async () => {
    const outcomes: TargetOutcome[] = [
      {
        kind: 'completed',
        items: [
          { instance_id: 'i-1', workflow_id: 'w-1', state: 'ACCEPT', error_message: null },
          { instance_id: null, workflow_id: null, state: 'REJECT', error_message: 'insufficient subnet ip' },
        ],
      },
      { kind: 'completed', items: [] },
      { kind: 'failed', error: { status: 400, error_code: 'DBS.05000008', error_msg: 'latest' } },
      { kind: 'failed', error: { error_msg: 'unreachable' } },
    ];
    const events = outcomes.flatMap((outcome) =>
      buildResultEvents({
        request: { ...request, change_id: 'CHG0031337', requested_by: 'alice@example.com' },
        trigger: { kind: 'event', id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718', change_id: 'CHG0031337' },
        outcome,
        occurredAt: new Date('2026-11-27T10:00:00.000Z'),
      }),
    );
    expect(events).toHaveLength(5);
    for (const event of events) {
      const schema = await committed(fileFor[event.detailType]);
      expect(schemaProblems(schema, event.detail, schema), event.detailType).toStrictEqual([]);
    }
  });

  it('accept a request and a batch and refuse what the parser refuses', async () => {
    const schema = await committed('upgrade-request.schema.json');
    const problems = (value: unknown) => schemaProblems(schema, value, schema);
    expect(problems(request)).toStrictEqual([]);
    expect(
      problems({ upgrades: [request, { ...request, language: 'zh-cn', change_id: 'CHG1' }] }),
    ).toStrictEqual([]);
    for (const refused of [
      { ...request, proxy_id: '../x' },
      { ...request, proxy_id: 'a'.repeat(65) },
      { ...request, target_version: '2.24.03.000-beta' },
      { ...request, language: 'fr' },
      { ...request, change_id: 'a\nb' },
      { ...request, extra: true },
      { upgrades: [] },
      { upgrades: Array.from({ length: 51 }, () => request) },
      { upgrades: [request], extra: true },
      { upgrades: [{ ...request, extra: true }] },
    ]) {
      expect(problems(refused), JSON.stringify(refused).slice(0, 80)).not.toStrictEqual([]);
    }
  });
});

describe('generate-schemas', () => {
  it('writes the files and reports them stale once they change', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'schemas-'));
    try {
      expect(await staleSchemaFiles(directory)).toStrictEqual(
        [...generateSchemas().keys()].map((fileName) => `${fileName} (missing)`),
      );
      expect(await writeSchemaFiles(directory)).toStrictEqual([...generateSchemas().keys()]);
      expect(await staleSchemaFiles(directory)).toStrictEqual([]);
      await writeFile(join(directory, 'proxy-upgrade-failed.schema.json'), '{}\n');
      expect(await staleSchemaFiles(directory)).toStrictEqual(['proxy-upgrade-failed.schema.json']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('generates the same text every time', () => {
    expect([...generateSchemas()]).toStrictEqual([...generateSchemas()]);
  });
});
