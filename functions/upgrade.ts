import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfig } from '../lib/config.ts';

// Read once per container: a bad environment fails the cold start, naming the variable.
const config = loadConfig();

async function upgrade(_event: unknown, _context: Context): Promise<{ statusCode: number; body: string }> {
  return {
    statusCode: 501,
    body: JSON.stringify({
      message: `upgrades are not wired yet (TaurusDB endpoint ${config.taurusDbEndpoint})`,
    }),
  };
}

export const handler = middy(upgrade);
