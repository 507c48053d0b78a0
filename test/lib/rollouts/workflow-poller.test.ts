import { describe, expect, it } from 'vitest';
import type { RolloutRecord, RolloutTarget } from '../../../lib/rollouts/record.ts';
import { type PollerClient, pollTarget } from '../../../lib/rollouts/workflow-poller.ts';
import type { ProxyVersions } from '../../../lib/upgrade/versions.ts';

const record = {
  rollout_id: 'poller-1',
  settings: { target_version: 'latest' },
} as unknown as RolloutRecord;

/** An accepted upgrade TaurusDB gave no workflow id for: the tick follows it by the proxy's version. */
const target: RolloutTarget = {
  key: 'p1/i1/x1',
  project_id: 'p1',
  instance_id: 'i1',
  proxy_id: 'x1',
  wave: 0,
  state: 'in_flight',
  attempt: 1,
  workflow_id: null,
  resolved: { source_version: '2.23.12.000', target_version: '2.24.03.000' },
};

function versionReader(versions: ProxyVersions) {
  const asked: unknown[] = [];
  const client: PollerClient = {
    getJob: async () => undefined,
    getProxyVersion: async (proxy) => {
      asked.push(proxy);
      return versions;
    },
  };
  return { client, asked };
}

describe('pollTarget without a workflow id', () => {
  it('judges the version against the version the step resolved, not the latest one now', async () => {
    // Huawei released 2.25.01.000 while the rollout ran: the proxy reached what was asked of it.
    const { client, asked } = versionReader({
      current_version: '2.24.03.000',
      latest_version: '2.25.01.000',
      can_upgrade: true,
    });
    expect(await pollTarget(client, record, target)).toEqual({ kind: 'completed' });
    expect(asked).toEqual([{ projectId: 'p1', instanceId: 'i1', proxyId: 'x1', region: undefined }]);
  });

  it('keeps a proxy below its resolved target running', async () => {
    const { client } = versionReader({
      current_version: '2.23.12.000',
      latest_version: '2.24.03.000',
      can_upgrade: true,
    });
    expect(await pollTarget(client, record, target)).toEqual({ kind: 'running' });
  });
});
