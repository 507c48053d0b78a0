import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DETAIL_SCHEMAS, TRACKING_DETAIL_SCHEMAS } from '../lib/events/contract.ts';
import { ROLLOUT_DETAIL_TYPES } from '../lib/events/detail-types.ts';
import { buildResultEvents } from '../lib/events/result-events.ts';
import type { TargetOutcome } from '../lib/upgrade/outcome.ts';
import {
  generateSchemas,
  SCHEMA_DIRECTORY,
  staleSchemaFiles,
  writeSchemaFiles,
} from '../scripts/generate-schemas.ts';
import { SCHEMA_FILES } from './support/detail-schemas.ts';
import { type JsonSchema, schemaProblems } from './support/json-schema-check.ts';

const expectedFiles = [
  'proxy-rollout-event.schema.json',
  'proxy-upgrade-accepted.schema.json',
  'proxy-upgrade-completed.schema.json',
  'proxy-upgrade-deferred.schema.json',
  'proxy-upgrade-failed-workflow-failed.schema.json',
  'proxy-upgrade-failed.schema.json',
  'proxy-upgrade-planned.schema.json',
  'proxy-upgrade-rejected.schema.json',
  'proxy-upgrade-skipped.schema.json',
  'proxy-upgrade-tracking-timed-out.schema.json',
  'proxy-upgrade-unconfirmed.schema.json',
  'registry',
  'rollout-request.schema.json',
  'upgrade-request.schema.json',
];
const schemaFiles = expectedFiles.filter((name) => name.endsWith('.schema.json'));

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
    for (const fileName of schemaFiles) {
      const document = await committed(fileName);
      expect(Object.keys(document).slice(0, 4)).toStrictEqual(['$schema', '$id', 'title', 'description']);
      expect(document.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(document.$id).toBe(`urn:taurusdb-proxy-upgrader:schema:${fileName.replace('.schema.json', '')}`);
    }
  });

  it('states the request rules, and says which one JSON Schema cannot express', async () => {
    const document = await committed('upgrade-request.schema.json');
    expect(document.description).toMatch(
      /target_version must be newer than an explicit source_version.*exactly one of proxy_id and all_proxies.*cannot express/,
    );
    const defs = document.$defs as Record<string, Record<string, unknown>>;
    const upgradeRequest = defs.UpgradeRequest as {
      additionalProperties: boolean;
      required: string[];
      properties: Record<string, Record<string, unknown>>;
    };
    expect(upgradeRequest.additionalProperties).toBe(false);
    // proxy_id or all_proxies, and source_version unless preflight is false: rules stated in the description.
    expect(upgradeRequest.required).toStrictEqual(['project_id', 'instance_id', 'target_version']);
    expect(upgradeRequest.properties.all_proxies).toMatchObject({ type: 'boolean' });
    expect(upgradeRequest.properties.preflight).toMatchObject({ type: 'boolean' });
    expect(upgradeRequest.properties.dry_run).toMatchObject({ type: 'boolean' });
    expect(upgradeRequest.properties.proxy_id).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9-]+$',
    });
    expect(upgradeRequest.properties.source_version).toMatchObject({
      pattern: '^[0-9]{1,6}(?:\\.[0-9]{1,6}){1,5}$',
    });
    expect(upgradeRequest.properties.target_version).toMatchObject({
      pattern: '^(?:latest|[0-9]{1,6}(?:\\.[0-9]{1,6}){1,5})$',
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
          preflight: expect.objectContaining({ type: 'boolean' }),
          dry_run: expect.objectContaining({ type: 'boolean' }),
        },
      }),
    ]);
  });

  it('puts result only on Accepted/Rejected, error only on Failed, reason on Skipped, would on Planned', async () => {
    for (const [fileName, required] of [
      ['proxy-upgrade-accepted.schema.json', ['resolved', 'result']],
      ['proxy-upgrade-rejected.schema.json', ['resolved', 'result']],
      ['proxy-upgrade-failed.schema.json', ['error']],
      ['proxy-upgrade-skipped.schema.json', ['resolved', 'versions', 'reason']],
      ['proxy-upgrade-unconfirmed.schema.json', ['resolved', 'sending_at', 'reason']],
    ] as const) {
      const document = await committed(fileName);
      expect(document.additionalProperties, fileName).toBe(false);
      expect(document.required, fileName).toStrictEqual([
        'event_id',
        'request',
        ...required,
        'trigger',
        'occurred_at',
      ]);
    }
  });

  it('makes a Planned event say dry_run, and why whenever it would skip, refuse or defer', async () => {
    const document = await committed('proxy-upgrade-planned.schema.json');
    const variants = document.oneOf as JsonSchema[];
    const byVerdict: Record<string, JsonSchema> = Object.fromEntries(
      variants.map((variant) => [(variant.properties as Record<string, JsonSchema>).would?.const, variant]),
    );
    expect(Object.keys(byVerdict).sort()).toStrictEqual(['defer', 'refuse', 'skip', 'upgrade']);
    for (const [verdict, variant] of Object.entries(byVerdict)) {
      expect(variant.additionalProperties, verdict).toBe(false);
      const required = variant.required as string[];
      expect(required.includes('reason'), verdict).toBe(verdict !== 'upgrade');
      const request = (variant.properties as Record<string, JsonSchema>).request as JsonSchema;
      expect(request.required, verdict).toContain('dry_run');
    }
  });

  it('refuses a Rejected event whose state is ACCEPT', async () => {
    const document = await committed('proxy-upgrade-rejected.schema.json');
    const result = (document.properties as Record<string, JsonSchema>).result as JsonSchema;
    const state = (result.properties as Record<string, JsonSchema>).state as JsonSchema;
    expect(schemaProblems(state, 'ACCEPT', document)).not.toStrictEqual([]);
    expect(schemaProblems(state, 'REJECT', document)).toStrictEqual([]);
    expect(schemaProblems(state, null, document)).toStrictEqual([]);
  });

  it('lets only a Failed event leave proxy_id out (an instance that could not be expanded)', async () => {
    for (const fileName of schemaFiles.filter((name) => name.startsWith('proxy-upgrade-'))) {
      const document = await committed(fileName);
      for (const variant of (document.oneOf as JsonSchema[] | undefined) ?? [document]) {
        const request = (variant.properties as Record<string, JsonSchema>).request;
        const required = (request?.required ?? []) as string[];
        expect(required.includes('proxy_id'), fileName).toBe(!fileName.startsWith('proxy-upgrade-failed'));
      }
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
  const versions = { current_version: '2.23.12.000', latest_version: '2.24.03.000', can_upgrade: true };
  const resolved = { source_version: '2.23.12.000', target_version: '2.24.03.000' };
  const advisory = {
    level: 1,
    suggest: 'Fixes a connection leak.',
    influence: null,
    guidance: null,
    service_impact_duration: '10 seconds',
    upgrade_duration: '15',
  };

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
      { kind: 'completed', items: [], versions, resolved },
      {
        kind: 'failed',
        error: {
          error_code: 'VERSION_MISMATCH',
          error_msg: 'proxy is at 2.24.03.000, request says 2.23.12.000',
        },
        versions: { ...versions, current_version: '2.24.03.000' },
        resolved,
      },
      { kind: 'skipped', reason: 'proxy is already at 2.24.03.000', versions, resolved },
      { kind: 'planned', would: 'upgrade', versions, resolved },
      { kind: 'planned', would: 'skip', reason: 'proxy is already at 2.24.03.000', resolved },
      {
        kind: 'unconfirmed',
        sending_at: '2026-11-27T09:59:00.000Z',
        reason: 'an earlier attempt…',
        versions,
        resolved,
      },
      {
        kind: 'unconfirmed',
        sending_at: '2026-11-27T09:59:00.000Z',
        reason: 'an earlier attempt…',
        read_error: 'TaurusDB answered 503',
        resolved,
      },
      {
        kind: 'deferred',
        reason: 'instance … is busy with another operation (DBS.201205); nothing ran',
        error: { status: 409, error_code: 'DBS.201205', error_msg: 'backup in progress' },
        attempt: 2,
        next_attempt_at: '2026-11-27T10:05:00.000Z',
        deadline: '2026-11-27T12:00:00.000Z',
        schedule_name: 'proxy-upgrade-0123456789abcdef0123456789abcdef-2',
        versions,
        resolved,
        advisory,
      },
      { kind: 'skipped', reason: 'proxy is already at 2.24.03.000', versions, resolved, advisory },
      { kind: 'planned', would: 'defer', reason: 'would defer until …', versions, resolved, advisory },
    ];
    const { source_version: _source, ...withoutSource } = request;
    const { proxy_id: _proxy, ...instance } = withoutSource;
    const trigger = {
      kind: 'event',
      id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      change_id: 'CHG0031337',
    } as const;
    const occurredAt = new Date('2026-11-27T10:00:00.000Z');
    const events = [
      ...outcomes.flatMap((outcome) =>
        buildResultEvents({
          request: { ...request, change_id: 'CHG0031337', requested_by: 'alice@example.com' },
          trigger,
          outcome,
          occurredAt,
        }),
      ),
      // A proxy of an all_proxies dry run asked for "latest", and an instance that lists no proxy.
      ...buildResultEvents({
        request: { ...withoutSource, all_proxies: true, target_version: 'latest', dry_run: true },
        trigger,
        outcome: { kind: 'planned', would: 'upgrade', versions, resolved },
        occurredAt,
      }),
      ...buildResultEvents({
        request: { ...instance, all_proxies: true, target_version: 'latest' },
        trigger,
        outcome: { kind: 'failed', error: { error_code: 'NO_PROXIES', error_msg: 'no proxies' } },
        occurredAt,
      }),
      // A busy target of a rollout: its loop runs the next attempt, no schedule.
      ...buildResultEvents({
        request,
        trigger: {
          kind: 'rollout',
          id: `rollout/fleet-1/p/i/${request.proxy_id}#1`,
          rollout_id: 'fleet-1',
          rolloutRetry: { attempt: 1 },
        },
        outcome: {
          kind: 'deferred',
          reason:
            'instance … is busy with another operation (DBS.201205); nothing ran; rollout fleet-1 runs attempt 2 at …',
          error: { status: 409, error_code: 'DBS.201205', error_msg: 'backup in progress' },
          attempt: 2,
          next_attempt_at: '2026-11-27T10:05:00.000Z',
          deadline: '2026-11-27T12:00:00.000Z',
          versions,
          resolved,
        },
        occurredAt,
      }),
    ];
    expect(events.map((event) => event.detailType).sort()).toStrictEqual([
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Planned',
      'Proxy Upgrade Planned',
      'Proxy Upgrade Planned',
      'Proxy Upgrade Planned',
      'Proxy Upgrade Rejected',
      'Proxy Upgrade Skipped',
      'Proxy Upgrade Skipped',
      'Proxy Upgrade Unconfirmed',
      'Proxy Upgrade Unconfirmed',
    ]);
    for (const event of events) {
      const schema = await committed(SCHEMA_FILES[event.detailType]);
      expect(schemaProblems(schema, event.detail, schema), event.detailType).toStrictEqual([]);
      // The same event as EventBridge delivers it, against the registry's AWSEvent envelope.
      const registry = await committed(
        `registry/${SCHEMA_FILES[event.detailType].replace('.schema.json', '.json')}`,
      );
      const root = { $defs: (registry.components as { schemas: Record<string, JsonSchema> }).schemas };
      const delivered = {
        version: '0',
        id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
        'detail-type': event.detailType,
        source: 'taurusdb.proxy-upgrader',
        account: '123456789012',
        time: '2026-11-27T10:00:00Z',
        region: 'eu-west-1',
        resources: [],
        detail: event.detail,
      };
      expect(schemaProblems(root.$defs.AWSEvent ?? {}, delivered, root), event.detailType).toStrictEqual([]);
      const { detail: _detail, ...withoutDetail } = delivered;
      expect(schemaProblems(root.$defs.AWSEvent ?? {}, withoutDetail, root)).not.toStrictEqual([]);
    }
  });

  it('accept a request and a batch and refuse what the parser refuses', async () => {
    const schema = await committed('upgrade-request.schema.json');
    const problems = (value: unknown) => schemaProblems(schema, value, schema);
    const { source_version: _source, proxy_id: _proxy, ...instance } = request;
    expect(problems(request)).toStrictEqual([]);
    expect(
      problems({ upgrades: [request, { ...request, language: 'zh-cn', change_id: 'CHG1' }] }),
    ).toStrictEqual([]);
    expect(
      problems({ ...instance, all_proxies: true, target_version: 'latest', dry_run: true }),
    ).toStrictEqual([]);
    expect(
      problems({ preflight: false, dry_run: true, upgrades: [{ ...request, preflight: true }] }),
    ).toStrictEqual([]);
    for (const refused of [
      { ...request, proxy_id: '../x' },
      { ...request, proxy_id: 'a'.repeat(65) },
      { ...request, target_version: '2.24.03.000-beta' },
      { ...request, target_version: 'Latest' },
      { ...request, source_version: 'latest' },
      { ...request, all_proxies: 'yes' },
      { ...request, preflight: 'false' },
      { upgrades: [request], dry_run: 1 },
      { upgrades: [request], all_proxies: true },
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

describe('docs/schemas/registry', () => {
  const everyKey = (value: unknown): string[] =>
    Array.isArray(value)
      ? value.flatMap(everyKey)
      : value !== null && typeof value === 'object'
        ? Object.entries(value).flatMap(([key, item]) => [key, ...everyKey(item)])
        : [];

  it('holds one OpenAPI 3.0 document per published DetailType, each an AWSEvent envelope naming it', async () => {
    const detailTypes = [
      ...new Set([
        ...Object.keys(DETAIL_SCHEMAS),
        ...Object.keys(TRACKING_DETAIL_SCHEMAS),
        ...Object.values(ROLLOUT_DETAIL_TYPES),
      ]),
    ];
    const files = (await readdir(join(SCHEMA_DIRECTORY, 'registry'))).sort();
    expect(files).toHaveLength(detailTypes.length);
    const named: string[] = [];
    for (const fileName of files) {
      const document = await committed(`registry/${fileName}`);
      expect(document.openapi).toBe('3.0.0');
      const schemas = (document.components as { schemas: Record<string, JsonSchema> }).schemas;
      const envelope = schemas.AWSEvent as JsonSchema;
      expect(envelope['x-amazon-events-source']).toBe('taurusdb.proxy-upgrader');
      named.push(envelope['x-amazon-events-detail-type'] as string);
      expect((envelope.properties as Record<string, JsonSchema>).detail?.$ref).toMatch(
        /^#\/components\/schemas\/Proxy(Upgrade|Rollout)/,
      );
      // What the registry's OpenAPI 3.0 (and JSON Schema Draft 4) importer does not take.
      const keys = everyKey(document);
      for (const keyword of ['$schema', '$id', '$defs', 'const'])
        expect(keys, `${fileName} ${keyword}`).not.toContain(keyword);
      expect(JSON.stringify(document), fileName).not.toMatch(/"type":\s*\[/);
    }
    expect(named.sort()).toStrictEqual(detailTypes.sort());
  });
});
