// The sale page and its assets, read from static/ once at start-up and
// served from memory by exact path: a request can only ever name a file
// that was loaded, so no path can escape the folder.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface StaticFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

const FILES_MAX = 256;
const FILE_BYTES_MAX = 4 * 1024 * 1024;

export function loadStaticFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        if (files.size >= FILES_MAX) throw new Error(`static/: more than ${FILES_MAX} files`);
        const body = fs.readFileSync(full);
        if (body.length > FILE_BYTES_MAX) throw new Error(`static/${entry.name}: larger than ${FILE_BYTES_MAX} bytes`);
        const urlPath = '/' + path.relative(root, full).split(path.sep).join('/');
        const etag = `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
        files.set(urlPath, { body, contentType: TYPES[path.extname(full)] ?? 'application/octet-stream', etag });
      }
    }
  };
  if (fs.existsSync(root)) walk(root);
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}
