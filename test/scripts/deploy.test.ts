import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MAX_STAGE_LENGTH, stageProblem } from '../../scripts/deploy.ts';
import { projectRoot } from '../support/serverless-package.ts';

const run = promisify(execFile);

/** `npm run deploy` / `npm run remove` refuse, before calling serverless (and so AWS), what cannot deploy. */
async function cli(...args: string[]) {
  return run(process.execPath, ['scripts/deploy.ts', ...args], { cwd: projectRoot }).then(
    (done) => ({ code: 0, ...done }),
    (failed: { code: number; stdout: string; stderr: string }) => failed,
  );
}

describe('scripts/deploy.ts', () => {
  it('refuses a stage one character too long for the role name, naming the limit, and calls nothing', async () => {
    const { code, stderr } = await cli(
      'deploy',
      '--stage',
      'x'.repeat(MAX_STAGE_LENGTH + 1),
      '--region',
      'eu-west-1',
    );
    expect(code).toBe(2);
    expect(stderr).toContain(`has ${MAX_STAGE_LENGTH + 1} characters; at most ${MAX_STAGE_LENGTH}`);
    expect(stderr).not.toMatch(/Serverless|Deploying/);
  });

  it('refuses a stage with characters a stack name cannot hold, for remove as for deploy', async () => {
    const { code, stderr } = await cli('remove', '-s', 'prod_eu');
    expect(code).toBe(2);
    expect(stderr).toContain('may hold only letters, digits and "-"');
  });

  it('takes only deploy and remove', async () => {
    expect((await cli('package')).code).toBe(2);
  });

  it('allows the longest stage', () => {
    expect(stageProblem('x'.repeat(MAX_STAGE_LENGTH))).toBeUndefined();
    expect(MAX_STAGE_LENGTH).toBe(14);
  });
});
