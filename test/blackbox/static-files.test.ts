// The sale page served like a CDN origin: gzip and brotli chosen by
// Accept-Encoding and matching the file byte for byte once decoded, strong
// ETags per encoding with 304s, immutable caching for fingerprinted assets
// and no-cache for the page, content types, HEAD, and no way out of static/
// with plain, encoded or double-encoded dot-dot segments.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import { MODES, ROOT, request, startEngine, tempDataDir } from '../helpers/engine-process';

/** Sends one raw request line by line, exactly as given (no client normalising the path). */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.write(`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
  });
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, static files`, async (t) => {
    const engine = await startEngine({ dataDir: tempDataDir('static'), args: [...mode.args] });
    t.teardown(() => engine.stop());
    const page = fs.readFileSync(path.join(ROOT, 'static', 'index.html'), 'utf8');

    const plain = await request(engine.port, 'GET', '/');
    t.equal(plain.status, 200);
    t.equal(plain.headers['content-type'], 'text/html; charset=utf-8');
    t.equal(plain.headers['cache-control'], 'no-cache', 'the page is revalidated every time');
    t.equal(plain.headers['content-encoding'], undefined, 'no encoding when none is accepted');
    t.match(plain.headers.etag, /^"[A-Za-z0-9_-]{27}"$/, 'a strong ETag');
    t.equal(plain.headers.vary, 'Accept-Encoding');

    // Assets referenced by the page are renamed to fingerprinted names.
    const assets = [...plain.body.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!).filter((ref) =>
      !ref.startsWith('//'));
    for (const ref of assets) {
      t.match(ref, /\.[A-Za-z0-9]{10}\.[a-z0-9]+$/, `${ref} is fingerprinted`);
      const asset = await request(engine.port, 'GET', ref, { headers: { 'accept-encoding': 'gzip, br' } });
      t.equal(asset.status, 200, `${ref} is served`);
      t.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable', `${ref} is cached for a year`);
      t.match(asset.headers['content-type'], /^(text\/css|text\/javascript|image\/svg\+xml)/,
        `${ref} has its content type`);
      const plainName = ref.replace(/\.[A-Za-z0-9]{10}(\.[a-z0-9]+)$/, '$1');
      t.equal((await request(engine.port, 'GET', plainName)).headers['cache-control'], 'no-cache',
        `${plainName} also works, revalidated`);
    }
    t.ok(page.length > 0 && plain.body.length > 0);

    for (const [accept, encoding, decode] of [
      ['gzip, deflate, br', 'br', zlib.brotliDecompressSync], ['gzip', 'gzip', zlib.gunzipSync],
      ['br;q=0, gzip;q=0.5', 'gzip', zlib.gunzipSync], ['*', 'br', zlib.brotliDecompressSync],
    ] as const) {
      const raw = await rawBody(engine.port, '/', accept);
      t.equal(raw.headers['content-encoding'], encoding, `Accept-Encoding "${accept}" gets ${encoding}`);
      t.equal(decode(raw.body).toString('utf8'), plain.body, 'which decodes to the same page');
      t.ok(raw.body.length < Buffer.byteLength(plain.body),
        `compressed: ${raw.body.length} < ${Buffer.byteLength(plain.body)} bytes`);
      t.not(raw.headers.etag, plain.headers.etag, 'each encoding has its own ETag');
      const again = await request(engine.port, 'GET', '/',
        { headers: { 'accept-encoding': accept, 'if-none-match': raw.headers.etag as string } });
      t.equal(again.status, 304, 'its ETag gets 304');
      t.equal(again.body, '', 'with no body');
    }
    t.equal((await request(engine.port, 'GET', '/',
      { headers: { 'if-none-match': `"other", W/${plain.headers.etag as string}` } })).status, 304,
      'a list with a weak form matches');
    t.equal((await request(engine.port, 'GET', '/', { headers: { 'if-none-match': '"stale"' } })).status, 200,
      'another tag gets the page');

    const head = await request(engine.port, 'HEAD', '/');
    t.equal(head.status, 200);
    t.equal(head.headers.etag, plain.headers.etag, 'HEAD has the same headers');

    for (const target of ['/../package.json', '/%2e%2e/package.json', '/%252e%252e/package.json',
      '/static/../README.md',
      '/..%2fREADME.md', '/%2e%2e%2f%2e%2e%2fetc/passwd', '//etc/passwd', '/index.html%00', '/./index.html']) {
      const reply = await rawGet(engine.port, target);
      t.match(reply, /^HTTP\/1\.1 404 /, `${target} is 404`);
      t.notMatch(reply, /"name": "flash-sale-engine"|root:x:0/, `${target} leaks nothing`);
    }
  });
}

/** GET with an Accept-Encoding, body kept as bytes. */
function rawBody(port: number, target: string,
  accept: string): Promise<{ headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of all.subarray(0, split).toString('latin1').split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ headers, body: all.subarray(split + 4) });
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.write(`GET ${target} HTTP/1.1\r\nhost: x\r\naccept-encoding: ${accept}\r\nconnection: close\r\n\r\n`);
  });
}
