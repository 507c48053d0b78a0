/**
 * Writes docs/schemas/*.json from the zod schemas the function itself validates with, so the
 * published contract cannot drift from the code.
 *
 *   node scripts/generate-schemas.ts          write the files
 *   node scripts/generate-schemas.ts --check  exit 1 and list the files that are stale or missing
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import {
  acceptedDetailSchema,
  completedDetailSchema,
  deferredDetailSchema,
  failedDetailSchema,
  plannedDetailSchema,
  rejectedDetailSchema,
  rolloutDetailSchema,
  skippedDetailSchema,
  timedOutDetailSchema,
  unconfirmedDetailSchema,
} from '../lib/events/contract.ts';
import { rolloutRequestSchema } from '../lib/rollouts/request.ts';
import { upgradePayloadSchema } from '../lib/upgrade/request.ts';

export const SCHEMA_DIRECTORY = fileURLToPath(new URL('../docs/schemas/', import.meta.url));

// URNs: the schemas are not served from anywhere, and an https $id would promise that they are.
const SCHEMA_ID_PREFIX = 'urn:taurusdb-proxy-upgrader:schema:';

const documents: ReadonlyArray<{ name: string; schema: z.ZodType }> = [
  { name: 'upgrade-request', schema: upgradePayloadSchema },
  { name: 'proxy-upgrade-accepted', schema: acceptedDetailSchema },
  { name: 'proxy-upgrade-rejected', schema: rejectedDetailSchema },
  { name: 'proxy-upgrade-failed', schema: failedDetailSchema },
  { name: 'proxy-upgrade-skipped', schema: skippedDetailSchema },
  { name: 'proxy-upgrade-planned', schema: plannedDetailSchema },
  { name: 'proxy-upgrade-unconfirmed', schema: unconfirmedDetailSchema },
  { name: 'proxy-upgrade-deferred', schema: deferredDetailSchema },
  { name: 'proxy-upgrade-completed', schema: completedDetailSchema },
  { name: 'proxy-upgrade-tracking-timed-out', schema: timedOutDetailSchema },
  { name: 'rollout-request', schema: rolloutRequestSchema },
  { name: 'proxy-rollout-event', schema: rolloutDetailSchema },
];

/** File name → file content (pretty-printed JSON, trailing newline), in a fixed order. */
export function generateSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  for (const { name, schema } of documents) {
    const generated = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'throw' });
    const { $schema, title, description, ...rest } = generated;
    // Identity first, then the body in the order zod emits it (fixed by the schema definitions).
    const document = { $schema, $id: `${SCHEMA_ID_PREFIX}${name}`, title, description, ...rest };
    files.set(`${name}.schema.json`, `${JSON.stringify(document, null, 2)}\n`);
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
  await mkdir(directory, { recursive: true });
  for (const [fileName, content] of generateSchemas()) {
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
