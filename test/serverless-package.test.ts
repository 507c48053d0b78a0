import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PackagedService, packageService } from './support/serverless-package.ts';
import { signedHttpEvent, startWorld, type World } from './support/world.ts';

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

  it("packs each function's entry with its own chunks only, every import among them resolving", async () => {
    // Each function and the entry file it runs; the rollout functions share functions/rollouts.ts.
    const entries = [
      ['upgrade', 'upgrade'],
      ['track', 'track'],
      ['rollouts', 'rollouts'],
      ['rolloutPlan', 'rollouts'],
      ['rolloutAdvance', 'rollouts'],
    ] as const;
    for (const [name, entry] of entries) {
      const names = (await service.artifact(name)).map((file) => file.name);
      // The entry and its code-split chunks (scripts/esbuild-plugins.ts), nothing of another entry.
      expect(names[0]).toBe(`functions/${entry}.mjs`);
      expect(names.length).toBeGreaterThan(1);
      for (const chunk of names.slice(1))
        expect(chunk).toMatch(new RegExp(`^functions/${entry}-chunks/[\\w-]+\\.mjs$`));
      const files = new Map(
        (await service.artifact(name)).map((file) => [file.name, file.read().toString('utf8')]),
      );
      // Static and dynamic imports between the files: a chunk only some invocations load must be there too.
      for (const [file, source] of files) {
        for (const [, target] of source.matchAll(/(?:from\s*|import\(\s*)"(\.{1,2}\/[^"]+)"/g)) {
          expect(
            files.has(posix.join(posix.dirname(file), target as string)),
            `${file} imports ${target}`,
          ).toBe(true);
        }
      }
    }
  });

  describe('the packaged upgrade function in a fresh Node process', () => {
    /** Unpacks the zip, imports its entry in a fresh process, answers `event`: the answer and the files loaded. */
    async function firstAnswer(world: World, name: string) {
      const directory = join(service.directory, `unpacked-upgrade-${name}`);
      const entries = await service.artifact('upgrade');
      for (const entry of entries) {
        await mkdir(dirname(join(directory, entry.name)), { recursive: true });
        await writeFile(join(directory, entry.name), entry.read());
      }
      const event = signedHttpEvent(world, 'http-api-v2.json');
      const script = [
        "import { registerHooks } from 'node:module';",
        'const loaded = [];',
        'registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });',
        `const { handler } = await import(${JSON.stringify(pathToFileURL(join(directory, 'functions/upgrade.mjs')).href)});`,
        "const context = { awsRequestId: 'package-test', functionName: 'upgrade', getRemainingTimeInMillis: () => 29000 };",
        'const answer = await handler(JSON.parse(process.argv[1]), context);',
        "process.stdout.write('\\n@@answer ' + JSON.stringify({ answer, loaded: loaded.filter((url) => url.startsWith('file:')) }));",
        'process.exit(0);',
      ].join('\n');
      const { stdout } = await run(
        process.execPath,
        ['--input-type=module', '-e', script, JSON.stringify(event)],
        {
          env: { ...process.env, PATH: process.env.PATH },
        },
      );
      const { answer, loaded } = JSON.parse(
        stdout.slice(stdout.lastIndexOf('\n@@answer ') + '\n@@answer '.length),
      );
      const files = (loaded as string[]).map((url) => relative(directory, fileURLToPath(url)));
      return { entries, answer, files };
    }

    /** The zip's one file holding `marker`: code the function loads only when it needs it. */
    function chunkWith(entries: Awaited<ReturnType<PackagedService['artifact']>>, marker: string) {
      const holding = entries.filter((entry) => entry.read().toString('utf8').includes(marker));
      expect(holding.map((entry) => entry.name)).toEqual([
        expect.stringMatching(/^functions\/upgrade-chunks\//),
      ]);
      return holding[0]?.name;
    }
    // The AK/SK signer's scheme name, and the maintenance-window rule's own wording (lib/upgrade/window.ts).
    const SIGNER = 'SDK-HMAC-SHA256';
    const WINDOW_RULE = 'reports no readable maintenance window';

    describe('with the password form', () => {
      let world: World;
      beforeAll(async () => {
        world = await startWorld({ credentials: 'password', idempotency: true });
      });
      afterAll(() => world.close());

      it('imports, answers a signed webhook end to end and loads only files of its zip', async () => {
        const { entries, answer, files } = await firstAnswer(world, 'password');
        const source = entries[0]?.read().toString('utf8') ?? '';
        expect(source).toMatch(/export\s*\{[^}]*\bhandler\b/);
        // Development tooling stays out of what is deployed: the sandbox's webhook key, its TaurusDB and
        // the test stand-ins would each leave these strings behind.
        const { SANDBOX_WEBHOOK_KEY } = await import('../sandbox/settings.ts');
        for (const entry of entries) {
          const text = entry.read().toString('utf8');
          expect(text).not.toContain(SANDBOX_WEBHOOK_KEY);
          expect(text).not.toMatch(/sandbox|stand-in|dynalite|fast-check/i);
        }

        expect(answer.statusCode).toBe(200);
        expect(JSON.parse(answer.body).outcomes).toMatchObject([{ outcome: 'accepted' }]);
        expect(world.taurusDb.upgradeRequests()).toBe(1);
        expect(world.eventBridge.calls).toHaveLength(1);
        // The entry and the chunks it needed came from the zip, and some were chunks.
        expect(files[0]).toBe('functions/upgrade.mjs');
        expect(files.filter((file) => file.startsWith('functions/upgrade-chunks/')).length).toBeGreaterThan(
          0,
        );
        const packed = new Set(entries.map((entry) => entry.name));
        for (const file of files) expect(packed.has(file), file).toBe(true);
        // Code this first answer does not run stays unloaded (docs/performance.md, "Cold start").
        expect(files).not.toContain(chunkWith(entries, SIGNER));
        expect(files).not.toContain(chunkWith(entries, WINDOW_RULE));
      });
    });

    describe('with the AK/SK form', () => {
      let world: World;
      beforeAll(async () => {
        world = await startWorld({ credentials: 'aksk', idempotency: true });
      });
      afterAll(() => world.close());

      it('loads the signer from its chunk and signs the TaurusDB calls with it', async () => {
        const { entries, answer, files } = await firstAnswer(world, 'aksk');
        expect(answer.statusCode).toBe(200);
        expect(JSON.parse(answer.body).outcomes).toMatchObject([{ outcome: 'accepted' }]);
        expect(world.taurusDb.upgradeRequests()).toBe(1);
        expect(world.iam.tokenRequests()).toBe(0);
        expect(files).toContain(chunkWith(entries, SIGNER));
      });
    });
  });
});
