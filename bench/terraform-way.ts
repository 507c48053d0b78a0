import { Agent, request } from 'undici';
import type { VirtualClock } from '../test/support/virtual-clock.ts';
import { FLEET_TOKEN, type Fleet, type FleetProxy } from './fleet-rollout.ts';

/**
 * "The Terraform way" of issue 18, simulated against the same stand-in fleet on the same kind of
 * clock: one resource per proxy in a `for_each`, `terraform apply` with its default parallelism of 10
 * walking the resources in the for_each's key order (sorted keys). Each resource's create POSTs the
 * upgrade, then polls its job every 10 s until it ends, and reads the proxy back once Completed (as a
 * provider's create does before it writes state); a refusal (busy, REJECT) or a Failed job fails that
 * resource and the apply goes on with the others. Every apply first refreshes the resources in state
 * (one version read each). The operator runs `apply` again, at once, until every resource is in
 * state: the time between applies counts as zero, in Terraform's favour.
 */

export interface TerraformRun {
  wallMs: number;
  applies: number;
  /** Resources in state at the end (upgraded), and resources that failed in some apply. */
  completed: number;
  failures: number;
  /** Upgrade POSTs refused busy because another resource's workflow ran on the instance. */
  busyRefusals: number;
}

export const TERRAFORM = { parallelism: 10, pollMs: 10_000, maxApplies: 200 };

type Outcome = 'completed' | 'failed';

export async function terraformWay(options: {
  fleet: Fleet;
  proxies: FleetProxy[];
  clock: VirtualClock;
  sourceVersion: string;
  targetVersion: string;
}): Promise<TerraformRun> {
  const { fleet, clock } = options;
  const agent = new Agent({ connections: TERRAFORM.parallelism });
  const call = async (proxy: FleetProxy, method: 'GET' | 'POST', path: string, body?: unknown) => {
    const base = fleet.regions.get(proxy.region)?.url as string;
    const answer = await request(`${base}/v3/${proxy.projectId}${path}`, {
      method,
      dispatcher: agent,
      headers: { 'x-auth-token': FLEET_TOKEN, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: answer.statusCode, json: (await answer.body.json()) as Record<string, unknown> };
  };
  const proxyPath = (proxy: FleetProxy) => `/instances/${proxy.instanceId}/proxy/${proxy.proxyId}`;

  async function create(proxy: FleetProxy): Promise<Outcome> {
    const posted = await call(proxy, 'POST', `${proxyPath(proxy)}/upgrade-version`, {
      source_version: options.sourceVersion,
      target_version: options.targetVersion,
    });
    const item = (
      posted.json.update_result as Array<{ state: string; workflow_id: string }> | undefined
    )?.[0];
    if (posted.status !== 200 || item?.state !== 'ACCEPT') return 'failed';
    for (;;) {
      await clock.sleep(TERRAFORM.pollMs);
      const job = (await call(proxy, 'GET', `/jobs?id=${item.workflow_id}`)).json.job as { status: string };
      if (job.status === 'Failed') return 'failed';
      if (job.status === 'Completed') break;
    }
    await call(proxy, 'GET', `${proxyPath(proxy)}/taurusproxy/proxy-version`);
    return 'completed';
  }

  /** Runs `work` over `items` in order, `parallelism` at a time, each worker an actor of the clock. */
  const walk = async (items: FleetProxy[], work: (proxy: FleetProxy) => Promise<void>) => {
    const queue = [...items];
    await Promise.all(
      Array.from({ length: TERRAFORM.parallelism }, () =>
        clock.actor(async () => {
          for (let next = queue.shift(); next !== undefined; next = queue.shift()) await work(next);
        }),
      ),
    );
  };

  const keyOf = (proxy: FleetProxy) => `${proxy.projectId}/${proxy.instanceId}/${proxy.proxyId}`;
  const resources = [...options.proxies].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  const state = new Set<string>();
  const startedAt = clock.now();
  const busyBefore = fleet.calls().selfBusy;
  let applies = 0;
  let failures = 0;
  try {
    while (state.size < resources.length && applies < TERRAFORM.maxApplies) {
      applies += 1;
      await walk(
        resources.filter((proxy) => state.has(keyOf(proxy))),
        async (proxy) => {
          await call(proxy, 'GET', `${proxyPath(proxy)}/taurusproxy/proxy-version`);
        },
      );
      await walk(
        resources.filter((proxy) => !state.has(keyOf(proxy))),
        async (proxy) => {
          if ((await create(proxy)) === 'completed') state.add(keyOf(proxy));
          else failures += 1;
        },
      );
    }
  } finally {
    await agent.close();
  }
  return {
    wallMs: clock.now() - startedAt,
    applies,
    completed: state.size,
    failures,
    busyRefusals: fleet.calls().selfBusy - busyBefore,
  };
}
