// Proves that `node scripts/sale check --data DIR` and the engine's start-up
// refuse exactly the same sale files, with the same message: both apply the
// engine's rule of what a new definition may not do to what is sold (stock
// below units held, perUserLimit below what one user holds, another mode once
// there are orders). An engine sells 3 units of an item (2 to one user) and
// stops; then each file is given to the script and to a fresh start-up on
// that directory, and a file both accept starts the engine.

import crypto from 'node:crypto';
import fs from 'node:fs';
import t from 'tap';
import { databaseFile } from '../../persistence/data-directory';
import {
  MODES, buyPathOf, item, request, runEngineToExit, signToken, startEngine, tempDataDir, USER_SECRET, writeSaleFile,
} from '../helpers/engine-process';
import { runScript } from '../helpers/script-process';

const STARTS_AT = Date.now() - 1000;
/** The sold item's definition with `fields` changed. */
function sold(fields: Record<string, unknown>): Record<string, unknown> {
  return item('lim', { stock: 10, perUserLimit: 3, startsAt: STARTS_AT, ...fields });
}

/** A digest of the database file: a read-only open may add an empty -wal beside it, but must not change it. */
function databaseDigest(dataDir: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(databaseFile(dataDir))).digest('hex');
}

/** The message after the program's own prefix ("sale: ", "flash-sale engine: "), one line. */
function messageOf(stderr: string, prefix: string): string {
  const line = stderr.split('\n').find((text) => text.startsWith(prefix));
  return line === undefined ? `(no line starting "${prefix}" in: ${stderr})` : line.slice(prefix.length);
}

for (const mode of MODES) {
  t.test(`with ${mode.name}, ` +
    `sale check --data and start-up refuse the same files with one message, and accept the same file`, async (t) => {
    const dataDir = tempDataDir('salerules');
    const engine = await startEngine({ dataDir, args: [...mode.args, '--sale', writeSaleFile(dataDir, [sold({})])] });
    const buyPath = await buyPathOf(engine.port, 'lim');
    for (const user of [301, 301, 302]) {
      t.equal((await request(engine.port, 'POST', buyPath, { token: signToken(user) })).status, 200,
        `user ${user} buys one`);
    }
    t.equal(await engine.stop(), 0, 'the engine stops cleanly with 3 units sold, 2 of them to user 301');

    const files = tempDataDir('salerulesfiles');
    const refusals: [string, Record<string, unknown>, string][] = [
      ['a stock below the units held', sold({ stock: 2 }),
        'field "stock" is 2 but 3 units are already sold or reserved'],
      ['a perUserLimit below what one user holds', sold({ perUserLimit: 1 }),
        'field "perUserLimit" is 1 but a user already holds 2 units'],
      ['another mode once the item has orders', sold({ mode: 'reserve' }),
        'field "mode" cannot change once the item has orders'],
    ];
    const before = databaseDigest(dataDir);
    const scriptMessages: string[] = [];
    const saleFiles = refusals.map(([, definition]) => writeSaleFile(files, [definition]));
    for (const [index, [what, , why]] of refusals.entries()) {
      const file = saleFiles[index]!;
      const script = await runScript('sale', ['check', file, '--data', dataDir]);
      t.equal(script.code, 1, `sale check refuses ${what} with exit 1`);
      t.equal(messageOf(script.stderr, 'sale: '), `${file}: item "lim" (items[0]): ${why}`,
        `sale check names the item and the field for ${what}`);
      scriptMessages.push(messageOf(script.stderr, 'sale: '));
    }
    t.equal(databaseDigest(dataDir), before, 'the script did not change the database');
    for (const [index, [what]] of refusals.entries()) {
      const args = ['--port', '0', ...mode.args, '--data', dataDir, '--sale', saleFiles[index]!];
      const startup = await runEngineToExit(args,
        { FLASH_USER_SECRET: USER_SECRET });
      t.equal(startup.code, 2, `start-up refuses ${what} with exit 2`);
      t.equal(messageOf(startup.stderr, 'flash-sale engine: '), scriptMessages[index],
        `start-up gives the script's message for ${what}`);
    }

    const fits = writeSaleFile(files, [sold({ stock: 3, perUserLimit: 2 })]);
    const checked = await runScript('sale', ['check', fits, '--data', dataDir]);
    t.equal(checked.code, 0, 'sale check accepts stock = units held and perUserLimit = the most one user holds');
    t.match(checked.stdout, /item "lim": will be updated \(row 1\): stock 3 >= 3 units held/);
    const restarted = await startEngine({ dataDir, args: [...mode.args, '--sale', fits] });
    const listed = await request(restarted.port, 'GET', '/api/items/lim');
    t.equal(listed.json.stock, 3, 'start-up accepts the same file and sells with its stock');
    t.equal(listed.json.left, 0, 'with nothing left');
    t.equal(await restarted.stop(), 0);
  });
}
