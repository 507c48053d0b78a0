import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { readZip, type ZipEntry } from './zip.ts';

const run = promisify(execFile);
export const projectRoot = resolve(import.meta.dirname, '../..');

export interface PackagedService {
  directory: string;
  // biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON
  template: any;
  artifact(functionName: string): Promise<ZipEntry[]>;
}

/**
 * Runs the real `serverless package` (osls + serverless-esbuild) into a fresh directory. It needs no
 * network and no AWS account: packaging only compiles the template and bundles the code.
 */
export async function packageService(stage = 'test', extraArgs: string[] = []): Promise<PackagedService> {
  const directory = await mkdtemp(join(tmpdir(), 'tpu-package-'));
  await run(
    join(projectRoot, 'node_modules/.bin/serverless'),
    ['package', '--stage', stage, '--package', directory, ...extraArgs],
    {
      cwd: projectRoot,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      timeout: 120_000,
    },
  );
  const template = JSON.parse(
    await readFile(join(directory, 'cloudformation-template-update-stack.json'), 'utf8'),
  );
  return {
    directory,
    template,
    async artifact(functionName: string) {
      return readZip(await readFile(join(directory, `${functionName}.zip`)));
    },
  };
}
