import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
  await withPackagingLock(() =>
    run(
      join(projectRoot, 'node_modules/.bin/serverless'),
      ['package', '--stage', stage, '--package', directory, ...extraArgs],
      {
        cwd: projectRoot,
        env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
        timeout: 120_000,
      },
    ),
  );
  return readPackagedService(directory);
}

/** What `serverless package --package <directory>` wrote there. */
export async function readPackagedService(directory: string): Promise<PackagedService> {
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

/*
 * serverless-esbuild bundles in <project>/.esbuild and deletes that folder when it is done, so two
 * `serverless package` runs in one project at the same time break each other (ENOENT on the other
 * run's zip; osls then does not even exit). Test files run in parallel workers, so their runs take
 * turns: an atomic mkdir is the lock, the holder's pid inside lets a crashed holder's lock be taken
 * over.
 */
const lockDirectory = join(
  tmpdir(),
  `tpu-package-${createHash('sha256').update(projectRoot).digest('hex').slice(0, 16)}.lock`,
);
const LOCK_POLL_MS = 100;
const LOCK_MAX_POLLS = 3_000;

async function withPackagingLock<T>(work: () => Promise<T>): Promise<T> {
  await acquireLock();
  try {
    return await work();
  } finally {
    await rm(lockDirectory, { recursive: true, force: true });
  }
}

async function acquireLock(): Promise<void> {
  for (let poll = 0; poll < LOCK_MAX_POLLS; poll += 1) {
    try {
      await mkdir(lockDirectory);
      await writeFile(join(lockDirectory, 'pid'), String(process.pid));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await lockHolderIsGone()) await rm(lockDirectory, { recursive: true, force: true });
    else await sleep(LOCK_POLL_MS);
  }
  throw new Error(`serverless package: ${lockDirectory} stayed locked by another run`);
}

async function lockHolderIsGone(): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await readFile(join(lockDirectory, 'pid'), 'utf8'));
  } catch {
    return false; // just created, pid not written yet (or just released)
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
