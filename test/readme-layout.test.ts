import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from './support/serverless-package.ts';

/**
 * The README's "Layout" section is how a newcomer finds the room for a change, so it must match the
 * tree: every path it names exists, and every folder of lib/ and of the top level is named.
 */
const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: projectRoot,
  encoding: 'utf8',
})
  .split('\n')
  .filter(Boolean);

function layoutSection(): string {
  const start = readme.indexOf('\n## Layout\n');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0 || end < 0) throw new Error('README has no "## Layout" section');
  return readme.slice(start, end);
}

/** Backticked paths in the first column of the layout table. */
function namedPaths(): string[] {
  return layoutSection()
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => /^\| `([^`]+)`/.exec(line)?.[1] ?? '')
    .filter(Boolean);
}

const exists = (path: string) =>
  path.endsWith('/') ? files.some((file) => file.startsWith(path)) : files.includes(path);

describe('README "Layout"', () => {
  it('names only paths that exist', () => {
    const missing = namedPaths().filter((path) => !exists(path));
    expect(missing).toEqual([]);
  });

  it('names every folder of lib/ and every top-level folder', () => {
    const named = new Set(namedPaths());
    const libFolders = new Set(
      files
        .filter((file) => file.startsWith('lib/') && file.split('/').length > 2)
        .map((file) => `${file.split('/').slice(0, -1).join('/')}/`),
    );
    const topFolders = new Set(
      files.filter((file) => file.includes('/')).map((file) => `${file.split('/')[0]}/`),
    );
    const unnamed = [...libFolders, ...topFolders].filter((folder) => !named.has(folder));
    expect(unnamed).toEqual([]);
  });
});
