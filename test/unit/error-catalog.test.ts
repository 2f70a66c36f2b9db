// Proves that the one catalog of refusals (engine/error-catalog.ts), the
// contract (../shared/spec/API.md) and the README agree: every code of the
// contract's buy table is in the catalog with the contract's status, every
// catalog code is in the README's table with the same status, and the
// prebuilt bodies are the JSON they claim to be.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ERROR_BODIES, ERRORS, OUTCOME, OUTCOME_ERROR } from '../../engine/error-catalog';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Rows "| 409 | `sold_out` | ..." of a markdown table, as [status, code]. */
function tableRows(markdown: string): [number, string][] {
  return [...markdown.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map((m) => [Number(m[1]), m[2]!]);
}

t.test('every refusal of the contract\'s buy table is in the catalog with the contract\'s status', async (t) => {
  // CI and developers have shared/ beside the clone; some checkouts keep it inside.
  const candidates = [path.join(ROOT, '..', 'shared', 'spec', 'API.md'), path.join(ROOT, 'shared', 'spec', 'API.md')];
  const contractFile = candidates.find((file) => fs.existsSync(file));
  t.ok(contractFile, `the contract is at one of ${candidates.join(', ')}`);
  if (!contractFile) return;
  const rows = tableRows(fs.readFileSync(contractFile, 'utf8'));
  t.ok(rows.length >= 12, `the contract's table was read (${rows.length} rows)`);
  for (const [status, code] of rows) {
    const entry = (ERRORS as Record<string, { status: string }>)[code];
    t.ok(entry, `${code} is in the catalog`);
    t.equal(entry && Number(entry.status.slice(0, 3)), status, `${code} is ${status}`);
  }
});

t.test('the README lists every catalog code with the same status, and nothing else', async (t) => {
  const rows = tableRows(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const readme = new Map(rows.map(([status, code]) => [code, status]));
  for (const [code, entry] of Object.entries(ERRORS)) {
    t.equal(readme.get(code), Number(entry.status.slice(0, 3)), `README: ${code} is ${entry.status}`);
  }
  t.equal(readme.size, Object.keys(ERRORS).length, 'the README has no code the catalog lacks');
});

t.test('prebuilt bodies are {"error": code} and every shard outcome maps to a catalog code', async (t) => {
  for (const code of Object.keys(ERRORS)) t.same(JSON.parse(ERROR_BODIES[code as keyof typeof ERRORS].toString()), { error: code });
  for (const [name, value] of Object.entries(OUTCOME)) {
    if (value === 0) continue;
    t.equal(OUTCOME_ERROR[value], name, `outcome ${name} answers ${name}`);
  }
});
