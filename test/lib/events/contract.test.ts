import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  acceptedDetailSchema,
  completedDetailSchema,
  DETAIL_SCHEMAS,
  TRACKING_DETAIL_SCHEMAS,
} from '../../../lib/events/contract.ts';
import { DETAIL_TYPES, TRACKING_DETAIL_TYPES } from '../../../lib/events/detail-types.ts';
import { TRIGGER_KINDS } from '../../../lib/http/triggers.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The project modules esbuild puts in a function's bundle: type-only imports are left out. */
async function bundledModules(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('the event contract', () => {
  it('has a Detail schema for every DetailType of both functions, and nothing else', () => {
    expect(Object.keys(DETAIL_SCHEMAS).sort()).toEqual(Object.values(DETAIL_TYPES).sort());
    expect(Object.keys(TRACKING_DETAIL_SCHEMAS).sort()).toEqual(Object.values(TRACKING_DETAIL_TYPES).sort());
  });

  it("takes the trigger kinds from the trigger recognition's one list, for both functions' events", () => {
    expect(acceptedDetailSchema.shape.trigger.shape.kind.options).toEqual([...TRIGGER_KINDS]);
    expect(completedDetailSchema.shape.trigger.shape.kind.options).toEqual([...TRIGGER_KINDS]);
  });

  it('is not in the upgrade function bundle: it only imports its types, so no schema is built at cold start', async () => {
    const modules = await bundledModules('functions/upgrade.ts');
    expect(modules).toContain('lib/events/result-events.ts');
    expect(modules).not.toContain('lib/events/contract.ts');
  });

  it('is in the tracker bundle, which reads Accepted events with it', async () => {
    expect(await bundledModules('functions/track.ts')).toContain('lib/events/contract.ts');
  });
});
