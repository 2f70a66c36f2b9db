// Proves that the one catalog of refusals (engine/error-catalog.ts), the
// contract (../shared/spec/API.md), its statement in docs/API.md and the
// error table of docs/decisions.md agree: every code of the contract's buy
// table is in the catalog and in docs/API.md with the contract's status,
// every code docs/API.md names is in the catalog with the same status, every
// catalog code is in docs/decisions.md's table with the same status, and the
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

t.test('docs/API.md states every refusal of the contract, each with the catalog\'s status', async (t) => {
  const rows = tableRows(fs.readFileSync(path.join(ROOT, 'docs', 'API.md'), 'utf8'));
  t.ok(rows.length >= 12, `docs/API.md's table was read (${rows.length} rows)`);
  const stated = new Map(rows.map(([status, code]) => [code, status]));
  t.equal(stated.size, rows.length, 'docs/API.md names each code once');
  for (const [status, code] of rows) {
    const entry = (ERRORS as Record<string, { status: string }>)[code];
    t.ok(entry, `docs/API.md: ${code} is in the catalog`);
    t.equal(entry && Number(entry.status.slice(0, 3)), status, `docs/API.md: ${code} is ${status}`);
  }
  const contractFile = [path.join(ROOT, '..', 'shared', 'spec', 'API.md'), path.join(ROOT, 'shared', 'spec', 'API.md')]
    .find((file) => fs.existsSync(file));
  if (!contractFile) return;
  for (const [status, code] of tableRows(fs.readFileSync(contractFile, 'utf8'))) {
    t.equal(stated.get(code), status, `docs/API.md states the contract's ${code} as ${status}`);
  }
});

t.test('docs/decisions.md lists every catalog code with the same status, and nothing else', async (t) => {
  const rows = tableRows(fs.readFileSync(path.join(ROOT, 'docs', 'decisions.md'), 'utf8'));
  const listed = new Map(rows.map(([status, code]) => [code, status]));
  for (const [code, entry] of Object.entries(ERRORS)) {
    t.equal(listed.get(code), Number(entry.status.slice(0, 3)), `docs/decisions.md: ${code} is ${entry.status}`);
  }
  t.equal(listed.size, Object.keys(ERRORS).length, 'docs/decisions.md has no code the catalog lacks');
  t.equal(rows.length, listed.size, 'docs/decisions.md lists each code once');
});

t.test('prebuilt bodies are {"error": code} and every shard outcome maps to a catalog code', async (t) => {
  for (const code of Object.keys(ERRORS)) {
    t.same(JSON.parse(ERROR_BODIES[code as keyof typeof ERRORS].toString()), { error: code });
  }
  for (const [name, value] of Object.entries(OUTCOME)) {
    if (value === OUTCOME.ok || value === OUTCOME.entered) continue;
    t.equal(OUTCOME_ERROR[value], name, `outcome ${name} answers ${name}`);
  }
  t.equal(OUTCOME_ERROR[OUTCOME.entered], null, 'an entry into a fair window is no refusal');
});
