import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { DETAIL_SCHEMAS } from '../../lib/events/contract.ts';
import type { DetailType } from '../../lib/events/detail-types.ts';
import { SCHEMA_DIRECTORY } from '../../scripts/generate-schemas.ts';
import type { ReceivedEntry } from '../../stand-ins/eventbridge.ts';
import { type JsonSchema, schemaProblems } from './json-schema-check.ts';

/** The committed JSON Schema file of each upgrade-function DetailType. */
export const SCHEMA_FILES: Record<DetailType, string> = {
  'Proxy Upgrade Accepted': 'proxy-upgrade-accepted.schema.json',
  'Proxy Upgrade Rejected': 'proxy-upgrade-rejected.schema.json',
  'Proxy Upgrade Failed': 'proxy-upgrade-failed.schema.json',
  'Proxy Upgrade Skipped': 'proxy-upgrade-skipped.schema.json',
  'Proxy Upgrade Planned': 'proxy-upgrade-planned.schema.json',
  'Proxy Upgrade Unconfirmed': 'proxy-upgrade-unconfirmed.schema.json',
  'Proxy Upgrade Deferred': 'proxy-upgrade-deferred.schema.json',
};

async function committedSchema(detailType: DetailType): Promise<JsonSchema> {
  return JSON.parse(await readFile(join(SCHEMA_DIRECTORY, SCHEMA_FILES[detailType]), 'utf8'));
}

/** Every published Detail parses with its zod schema and passes the committed JSON Schema. */
export async function expectDetailsMatchSchemas(entries: ReceivedEntry[]): Promise<void> {
  expect(entries.length).toBeGreaterThan(0);
  for (const entry of entries) {
    const detailType = entry.DetailType as DetailType;
    expect(Object.keys(SCHEMA_FILES)).toContain(detailType);
    const parsed = DETAIL_SCHEMAS[detailType].safeParse(entry.Detail);
    expect(parsed.error?.issues ?? [], detailType).toEqual([]);
    const schema = await committedSchema(detailType);
    expect(schemaProblems(schema, entry.Detail), detailType).toEqual([]);
  }
}
