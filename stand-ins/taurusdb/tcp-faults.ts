import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';

/** Endpoints that fail below HTTP, for the TaurusDB client's connection-failure cases. */

export interface ResettingServer {
  port: number;
  /** Connections accepted in all. */
  connections(): number;
  /** The first chunk each connection sent before it was reset. */
  received: Buffer[];
  close(): Promise<void>;
}

/**
 * A raw TCP server that reads the first chunk a client sends and then resets the connection. Over
 * plain HTTP that chunk is the request itself (a reset *after* the request was written); for an
 * https:// URL it is the TLS ClientHello, so the reset comes *before* any request byte was written.
 */
export async function startResettingServer(): Promise<ResettingServer> {
  const sockets = new Set<Socket>();
  const received: Buffer[] = [];
  let connectionCount = 0;
  const server: Server = createServer((socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (chunk) => {
      received.push(chunk);
      socket.resetAndDestroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connectionCount,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (it was bound, then released), for connection-refused cases. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
