/**
 * `npm run deploy -- [--stage <stage>] [--region <region>] [--param k=v ...]` and `npm run remove -- ...`:
 * `serverless deploy` / `serverless remove` (osls, the project's devDependency), after the checks
 * CloudFormation would only make halfway through a deploy.
 *
 * The stage limit: the longest name the stack generates is the function role's,
 * `<service>-<stage>-<region>-lambdaRole`, and IAM allows 64 characters. AWS's longest region names
 * have 14 characters (ap-southeast-1, ap-northeast-1, ...), which leaves MAX_STAGE_LENGTH for the
 * stage; test/serverless-template.test.ts packages that stage in such a region and checks every
 * generated name against its limit.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SERVICE = 'taurusdb-proxy-upgrader';
const LONGEST_REGION_LENGTH = 'ap-southeast-1'.length;
const ROLE_NAME_LIMIT = 64;
export const MAX_STAGE_LENGTH =
  ROLE_NAME_LIMIT - `${SERVICE}--${'x'.repeat(LONGEST_REGION_LENGTH)}-lambdaRole`.length;

/** Why the stage cannot be deployed, or undefined. */
export function stageProblem(stage: string): string | undefined {
  if (!/^[a-zA-Z0-9-]+$/.test(stage)) return `stage "${stage}" may hold only letters, digits and "-"`;
  if (stage.length > MAX_STAGE_LENGTH) {
    return (
      `stage "${stage}" has ${stage.length} characters; at most ${MAX_STAGE_LENGTH} fit the IAM role name ` +
      `${SERVICE}-<stage>-<region>-lambdaRole (64 characters) in every region`
    );
  }
  return undefined;
}

const NOTES: Record<string, string> = {
  remove:
    'Kept after removal (DeletionPolicy Retain): the idempotency table, both queues and the log groups; ' +
    'delete them by hand once their contents are no longer needed (README "Removing a stage").',
};

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command !== 'deploy' && command !== 'remove') {
    process.stderr.write('usage: node scripts/deploy.ts deploy|remove [serverless options]\n');
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { stage: { type: 'string', short: 's' } },
    strict: false,
    allowPositionals: true,
  });
  const stage = typeof values.stage === 'string' ? values.stage : 'dev';
  const problem = stageProblem(stage);
  if (problem !== undefined) {
    process.stderr.write(`${command}: ${problem}\n`);
    return 2;
  }
  const serverless = fileURLToPath(new URL('../node_modules/.bin/serverless', import.meta.url));
  const { status } = spawnSync(serverless, [command, ...rest], { stdio: 'inherit' });
  if (status === 0 && NOTES[command]) process.stderr.write(`${NOTES[command]}\n`);
  return status ?? 1;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
