// The baseline for bench/buy-throughput.ts: the cheapest possible uWebSockets.js
// answer to `POST /api/buy/:id/:ticket`, a fixed 200 JSON body with the same
// shape and length as the engine's "won" answer, and nothing else: no token
// check, no shard, no log, no SQLite. What the engine reaches as a fraction
// of this server's requests per second, measured in the same run on the same
// machine with the same load generator, is the cost of everything the engine
// does on the buy path; the rest is the HTTP stack and the generator itself.
//
// Run as its own process: `node dist/bench/bare-server.js`. It listens on
// 127.0.0.1 port 0 and prints `{"port":N}` on stdout once listening;
// SIGTERM or SIGINT closes it and exits 0.

import uWS from 'uWebSockets.js';

// The engine's won answer for item "hot" with its first order id
// (row 1 << 32 | sequence 1), so that both servers write the same bytes.
const WON_BODY = Buffer.from('{"result":"won","order":"4294967297","item":"hot","payBy":null}');
const NOT_FOUND_BODY = Buffer.from('{"error":"not_found"}');
const JSON_TYPE = 'application/json';

function main(): void {
  const app = uWS.App();
  // A buy carries an empty body (content-length 0), so the answer can be written at once.
  app.post('/api/buy/:id/:ticket', (res) => {
    res.writeStatus('200 OK').writeHeader('content-type', JSON_TYPE).end(WON_BODY);
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', JSON_TYPE).end(NOT_FOUND_BODY);
  });
  app.listen('127.0.0.1', 0, (listenSocket) => {
    if (!listenSocket) {
      process.stderr.write('bare-server: cannot listen on 127.0.0.1\n');
      process.exit(1);
    }
    const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
    process.stdout.write(`${JSON.stringify({ port })}\n`);
    const close = (): void => {
      uWS.us_listen_socket_close(listenSocket);
      process.exit(0);
    };
    process.once('SIGTERM', close);
    process.once('SIGINT', close);
  });
}

main();
