// Serve the `events` function on a chosen address, 127.0.0.1 by default.
//
// Why this exists: the functions-framework CLI (5.x) calls listen(port) with
// no host, i.e. it binds every interface and has no --host option. Tests and
// local runs here must listen on loopback only, so this script serves the same
// Express app the CLI would build (via the framework's own getServer, exposed
// as getTestServer) but binds the host we ask for.
//
//   node dist/src/serve.js [--port=8080] [--host=127.0.0.1]
//   (or PORT / HOST environment variables; --port=0 picks a free port)
//
// Prints one line `pgbulk-events listening on http://HOST:PORT/` once ready,
// so a parent process can wait for it, and exits cleanly on SIGTERM/SIGINT.
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { AddressInfo } from 'node:net';
import { shutdown } from './index';

function option(name: string, env: string, fallback: string): string {
  const prefix = `--${name}=`;
  const arg = process.argv.slice(2).find((a) => a.startsWith(prefix));
  return arg?.slice(prefix.length) ?? process.env[env] ?? fallback;
}

const host = option('host', 'HOST', '127.0.0.1');
const portText = option('port', 'PORT', '8080');
if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
  console.error(`invalid port: ${portText}`);
  process.exit(2);
}

const server = getTestServer('events');
server.listen(Number(portText), host, () => {
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  console.log(`pgbulk-events listening on http://${shownHost}:${addr.port}/`);
});
server.on('error', (err) => {
  console.error(`cannot listen on ${host}:${portText}: ${err.message}`);
  process.exit(1);
});

let stopping = false;
function stop(signal: string): void {
  if (stopping) return;
  stopping = true;
  console.log(`pgbulk-events stopping (${signal})`);
  // Stop accepting connections, let in-flight publishes finish, then close
  // the Pub/Sub client. A hard deadline keeps a stuck publish from blocking exit.
  setTimeout(() => process.exit(0), 5000).unref();
  server.close(() => {
    shutdown().finally(() => process.exit(0));
  });
  server.closeIdleConnections();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
