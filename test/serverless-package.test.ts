import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PackagedService, packageService } from './support/serverless-package.ts';

const run = promisify(execFile);

describe('serverless package', () => {
  let service: PackagedService;

  beforeAll(async () => {
    service = await packageService();
  }, 120_000);

  it('declares the upgrade function on nodejs24.x and arm64', () => {
    const fn = service.template.Resources.UpgradeLambdaFunction;
    expect(fn?.Type).toBe('AWS::Lambda::Function');
    expect(fn.Properties.Runtime).toBe('nodejs24.x');
    expect(fn.Properties.Architectures).toEqual(['arm64']);
    expect(fn.Properties.Handler).toBe('functions/upgrade.handler');
  });

  it('bundles the upgrade function into one ESM file that Node loads as a module', async () => {
    const entries = await service.artifact('upgrade');
    expect(entries.map((entry) => entry.name)).toEqual(['functions/upgrade.mjs']);
    const [bundle] = entries;
    const source = bundle?.read().toString('utf8') ?? '';
    expect(source).toMatch(/export\s*\{[^}]*\bhandler\b/);
    // Development tooling stays out of what is deployed: the sandbox's webhook key, its TaurusDB and
    // the test stand-ins would each leave these strings behind.
    const { SANDBOX_WEBHOOK_KEY } = await import('../sandbox/settings.ts');
    expect(source).not.toContain(SANDBOX_WEBHOOK_KEY);
    expect(source).not.toMatch(/sandbox|stand-in|dynalite|fast-check/i);

    // The real proof of "ESM": a fresh Node process imports the bundle and finds the handler.
    const file = join(service.directory, 'upgrade.mjs');
    await writeFile(file, source);
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(file)}); console.log(typeof m.handler);`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          HUAWEI_REGION: 'ap-southeast-1',
          HUAWEI_CREDENTIALS_SECRET_ID: 'huawei/credentials',
          EVENT_BUS_NAME: 'taurusdb-upgrades',
          AWS_REGION: 'eu-west-1',
        },
      },
    );
    expect(stdout.trim()).toBe('function');
  });
});
