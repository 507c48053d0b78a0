import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { projectRoot } from './support/serverless-package.ts';

describe('toolchain', () => {
  it('runs the suite on the Node.js major of the Lambda runtime in serverless.yml', () => {
    const serverlessYml = readFileSync(`${projectRoot}/serverless.yml`, 'utf8');
    const runtimeMajor = /runtime:\s*nodejs(\d+)\.x/.exec(serverlessYml)?.[1];
    expect(runtimeMajor, 'serverless.yml names a nodejsNN.x runtime').toBeDefined();
    expect(process.versions.node.split('.')[0]).toBe(runtimeMajor);
  });
});
