/**
 * Writes docs/schemas/*.json from the zod schemas the function itself validates with, so the
 * published contract cannot drift from the code.
 *
 *   node scripts/generate-schemas.ts          write the files
 *   node scripts/generate-schemas.ts --check  exit 1 and list the files that are stale or missing
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { DETAIL_SCHEMAS, rolloutDetailSchema, TRACKING_DETAIL_SCHEMAS } from '../lib/events/contract.ts';
import { DEFAULT_EVENT_SOURCE, ROLLOUT_DETAIL_TYPES } from '../lib/events/detail-types.ts';
import { rolloutRequestSchema } from '../lib/rollouts/request.ts';
import { upgradePayloadSchema } from '../lib/upgrade/request.ts';

export const SCHEMA_DIRECTORY = fileURLToPath(new URL('../docs/schemas/', import.meta.url));
/** Under SCHEMA_DIRECTORY: what the EventBridge Schema Registry imports (see registryDocument). */
export const REGISTRY_FOLDER = 'registry';

// URNs: the schemas are not served from anywhere, and an https $id would promise that they are.
const SCHEMA_ID_PREFIX = 'urn:taurusdb-proxy-upgrader:schema:';

type SchemaMap = Readonly<Record<string, z.ZodType>>;

const kebab = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** The schema's own title, without the "(event detail)" every Detail title ends with. */
const variantTitle = (schema: z.ZodType) =>
  String(z.globalRegistry.get(schema)?.title ?? '').replace(/\s*\(event detail\)$/, '');

/**
 * Every published event, straight from lib/events/contract.ts, so an event added there appears here
 * without an edit: one document per DetailType and, when a DetailType has a second Detail schema (the
 * tracker's Failed, a workflow that failed), that variant under its own title.
 */
function eventDocuments(
  maps: SchemaMap[] = [DETAIL_SCHEMAS, TRACKING_DETAIL_SCHEMAS],
): Array<{ name: string; detailType: string; schema: z.ZodType; primary: boolean }> {
  const documents: Array<{ name: string; detailType: string; schema: z.ZodType; primary: boolean }> = [];
  for (const map of maps) {
    for (const [detailType, schema] of Object.entries(map)) {
      const primary = !documents.some((document) => document.detailType === detailType);
      const name = primary ? kebab(detailType) : kebab(variantTitle(schema));
      if (documents.some((document) => document.name === name || document.schema === schema)) continue;
      documents.push({ name, detailType, schema, primary });
    }
  }
  return documents;
}

function jsonSchemaFile(name: string, schema: z.ZodType): string {
  const generated = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'throw' });
  const { $schema, title, description, ...rest } = generated;
  // Identity first, then the body in the order zod emits it (fixed by the schema definitions).
  const document = { $schema, $id: `${SCHEMA_ID_PREFIX}${name}`, title, description, ...rest };
  return `${JSON.stringify(document, null, 2)}\n`;
}

const pascal = (text: string) =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]?.toUpperCase() + word.slice(1))
    .join('');

/** zod's definitions moved to where OpenAPI keeps them, and every reference to them rewritten. */
function toComponents(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toComponents);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) =>
      key === '$ref' && typeof item === 'string'
        ? [key, item.replace('#/$defs/', '#/components/schemas/')]
        : [key, toComponents(item)],
    ),
  );
}

/**
 * The EventBridge Schema Registry's form of one event (what AWS::EventSchemas::Schema imports as
 * Type OpenApi3, and what its code bindings are generated from): OpenAPI 3.0, the whole event as the
 * `AWSEvent` envelope naming its source and DetailType, the Detail as a component of its own.
 */
function registryDocument(detailType: string, schema: z.ZodType, source = DEFAULT_EVENT_SOURCE) {
  const detailName = pascal(detailType);
  const { $defs, title, description, ...detail } = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    unrepresentable: 'throw',
  }) as Record<string, unknown> & { $defs?: Record<string, unknown> };
  const text = { type: 'string' };
  return toComponents({
    openapi: '3.0.0',
    info: { version: '1.0.0', title: detailType, description: description ?? title },
    paths: {},
    components: {
      schemas: {
        AWSEvent: {
          type: 'object',
          required: [
            'detail-type',
            'resources',
            'detail',
            'id',
            'source',
            'time',
            'region',
            'version',
            'account',
          ],
          'x-amazon-events-detail-type': detailType,
          'x-amazon-events-source': source,
          properties: {
            detail: { $ref: `#/components/schemas/${detailName}` },
            account: text,
            'detail-type': text,
            id: text,
            region: text,
            resources: { type: 'array', items: text },
            source: text,
            time: { type: 'string', format: 'date-time' },
            version: text,
          },
        },
        [detailName]: { description, ...detail },
        ...$defs,
      },
    },
  });
}

/** File name (relative to SCHEMA_DIRECTORY) → file content (pretty JSON, trailing newline), in a fixed order. */
export function generateSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  files.set('upgrade-request.schema.json', jsonSchemaFile('upgrade-request', upgradePayloadSchema));
  files.set('rollout-request.schema.json', jsonSchemaFile('rollout-request', rolloutRequestSchema));
  const events = eventDocuments();
  for (const { name, schema } of events) files.set(`${name}.schema.json`, jsonSchemaFile(name, schema));
  // Every rollout event shares one Detail schema (its `status` says which it is): one JSON Schema file,
  // and one registry document per DetailType, as the registry and its code bindings know events by it.
  files.set('proxy-rollout-event.schema.json', jsonSchemaFile('proxy-rollout-event', rolloutDetailSchema));
  const registry = [
    ...events.filter((event) => event.primary),
    ...Object.values(ROLLOUT_DETAIL_TYPES).map((detailType) => ({
      name: kebab(detailType),
      detailType,
      schema: rolloutDetailSchema,
    })),
  ];
  for (const { name, detailType, schema } of registry) {
    const document = registryDocument(detailType, schema);
    files.set(`${REGISTRY_FOLDER}/${name}.json`, `${JSON.stringify(document, null, 2)}\n`);
  }
  return files;
}

/** Names of the files under `directory` whose content differs from what generateSchemas() gives now. */
export async function staleSchemaFiles(directory: string = SCHEMA_DIRECTORY): Promise<string[]> {
  const stale: string[] = [];
  for (const [fileName, expected] of generateSchemas()) {
    const actual = await readFile(join(directory, fileName), 'utf8').catch(() => undefined);
    if (actual !== expected) stale.push(actual === undefined ? `${fileName} (missing)` : fileName);
  }
  return stale;
}

export async function writeSchemaFiles(directory: string = SCHEMA_DIRECTORY): Promise<string[]> {
  const written: string[] = [];
  for (const [fileName, content] of generateSchemas()) {
    await mkdir(dirname(join(directory, fileName)), { recursive: true });
    await writeFile(join(directory, fileName), content);
    written.push(fileName);
  }
  return written;
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = await staleSchemaFiles();
    if (stale.length > 0) {
      console.error(
        `Stale JSON Schemas in docs/schemas (run: node scripts/generate-schemas.ts):\n  ${stale.join('\n  ')}`,
      );
      process.exitCode = 1;
    } else {
      console.log('docs/schemas is up to date');
    }
  } else {
    for (const fileName of await writeSchemaFiles()) console.log(`wrote docs/schemas/${fileName}`);
  }
}
