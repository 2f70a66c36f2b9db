// The sale page and its assets, served like a CDN origin: read from static/
// once at start-up, fingerprinted, compressed once (gzip and brotli), and
// served from memory by exact path, so a request can only ever name a file
// that was loaded and no path, encoded or not, can escape the folder.
//
// Every asset is also served under a fingerprinted name (page.<hash>.js)
// with a year-long immutable Cache-Control, and the HTML pages' references
// to assets are rewritten to those names at load. Pages themselves are
// `no-cache` (revalidated with their ETag every time), so a new deploy is
// seen at once and assets are never fetched twice.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export type Encoding = 'identity' | 'gzip' | 'br';

export interface StaticVariant {
  /** A Buffer where it was made; a copy that crossed to another HTTP thread is a plain Uint8Array. */
  body: Uint8Array;
  etag: string;
  /** The Content-Encoding header's value; 'identity' is sent without one. */
  encoding: Encoding;
}

export interface StaticFile {
  contentType: string;
  cacheControl: string;
  /** identity first; then the compressed variants that are smaller. */
  variants: StaticVariant[];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json', '.woff2': 'font/woff2',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt', '.webmanifest', '.ico']);

const FILES_MAX = 256;
const FILE_BYTES_MAX = 4 * 1024 * 1024;
export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const REVALIDATE = 'no-cache';

interface Loaded {
  urlPath: string;
  ext: string;
  body: Buffer;
}

function hashOf(body: Buffer): string {
  return crypto.createHash('sha256').update(body).digest('base64url');
}

function variantsOf(body: Buffer, ext: string): StaticVariant[] {
  const tag = hashOf(body).slice(0, 27);
  const variants: StaticVariant[] = [{ body, etag: `"${tag}"`, encoding: 'identity' }];
  if (!COMPRESSIBLE.has(ext)) return variants;
  const br = zlib.brotliCompressSync(body, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  const gzip = zlib.gzipSync(body, { level: 9 });
  // Each encoding is a different representation, so its strong ETag differs.
  if (br.length < body.length) variants.push({ body: br, etag: `"${tag}-br"`, encoding: 'br' });
  if (gzip.length < body.length) variants.push({ body: gzip, etag: `"${tag}-gz"`, encoding: 'gzip' });
  return variants;
}

/** `name.ext` → `name.<hash>.ext` */
function fingerprinted(urlPath: string, body: Buffer): string {
  const ext = path.posix.extname(urlPath);
  return `${urlPath.slice(0, urlPath.length - ext.length)}.${hashOf(body).slice(0, 10).replace(/[-_]/g, 'x')}${ext}`;
}

export function loadStaticFiles(root: string): Map<string, StaticFile> {
  const loaded: Loaded[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        if (loaded.length >= FILES_MAX) throw new Error(`static/: more than ${FILES_MAX} files`);
        const body = fs.readFileSync(full);
        if (body.length > FILE_BYTES_MAX) throw new Error(`static/${entry.name}: larger than ${FILE_BYTES_MAX} bytes`);
        loaded.push({
          urlPath: '/' + path.relative(root, full).split(path.sep).join('/'), ext: path.extname(full), body,
        });
      }
    }
  };
  if (fs.existsSync(root)) walk(root);

  const files = new Map<string, StaticFile>();
  const renames = new Map<string, string>();
  for (const file of loaded.filter((f) => f.ext !== '.html')) {
    const contentType = TYPES[file.ext] ?? 'application/octet-stream';
    const variants = variantsOf(file.body, file.ext);
    const hashed = fingerprinted(file.urlPath, file.body);
    renames.set(file.urlPath, hashed);
    files.set(hashed, { contentType, cacheControl: IMMUTABLE, variants });
    // The plain name still works (old pages, hand-typed URLs), revalidated each time.
    files.set(file.urlPath, { contentType, cacheControl: REVALIDATE, variants });
  }
  for (const page of loaded.filter((f) => f.ext === '.html')) {
    const body = Buffer.from(rewriteReferences(page.body.toString('utf8'), renames));
    files.set(page.urlPath, {
      contentType: TYPES['.html']!, cacheControl: REVALIDATE, variants: variantsOf(body, '.html'),
    });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}

/** Points quoted references to assets ("/page.js", '/page.css') at their fingerprinted names. */
export function rewriteReferences(html: string, renames: Map<string, string>): string {
  return html.replace(/(["'])(\/[A-Za-z0-9._/-]+)\1/g, (whole, quote: string, ref: string) => {
    const hashed = renames.get(ref);
    return hashed === undefined ? whole : `${quote}${hashed}${quote}`;
  });
}

/**
 * The variant for an Accept-Encoding header: brotli, then gzip, else
 * identity. A coding listed with q=0 is refused; `*` accepts both.
 */
export function pickVariant(file: StaticFile, acceptEncoding: string): StaticVariant {
  if (file.variants.length === 1 || acceptEncoding === '') return file.variants[0]!;
  const accepted = new Set<string>();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [coding, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (coding === '*') {
      accepted.add('br');
      accepted.add('gzip');
    } else if (coding) accepted.add(coding.trim());
  }
  for (const want of ['br', 'gzip'] as const) {
    const variant = file.variants.find((v) => v.encoding === want);
    if (variant && accepted.has(want)) return variant;
  }
  return file.variants[0]!;
}

/** Whether If-None-Match names this variant (a list, `*`, or weak forms of the tag). */
export function matchesEtag(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
