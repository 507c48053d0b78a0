import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_NAMES } from '../../lib/upgrade/outcome-log.ts';
import { projectRoot } from './serverless-package.ts';

const UNITS = new Set(['Count', 'Milliseconds', 'Seconds', 'Bytes']);

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(directory, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(directory, entry.name)]
        : [],
  );
}

/**
 * Every metric name the functions emit, read from their sources: the quoted names in each
 * `addMetric(...)` call of lib/, plus the outcome metrics (lib/upgrade/outcome-log.ts). So a metric
 * added to the code and left off the dashboard or the README fails the tests that use this.
 */
export function emittedMetricNames(): string[] {
  const names = new Set<string>(Object.values(METRIC_NAMES));
  for (const file of sourceFiles(join(projectRoot, 'lib'))) {
    for (const [, call] of readFileSync(file, 'utf8').matchAll(/addMetric\(([^)]*)\)/g)) {
      for (const [, name] of (call ?? '').matchAll(/'(\w+)'/g)) if (name && !UNITS.has(name)) names.add(name);
    }
  }
  return [...names].sort();
}
