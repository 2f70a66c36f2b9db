// `node scripts/sale check FILE`: validates a sale file without starting the
// engine, with the engine's own readSaleFile/checkSale, so the script and
// start-up can never disagree about what a valid file is. Prints each item as
// the engine will read it (times resolved to ISO, defaults filled in).
//
// With --data DIR it also checks the file against an existing database, as
// start-up's merge does, without changing anything, with the engine's own
// rule (checkAgainstSold in engine/sale-rules.ts): an item the file changes
// may not get a stock below the units its orders hold, a perUserLimit below
// what one user holds, or another mode once it has orders. What is sold is
// counted after replaying the unapplied write-behind log in memory (what
// start-up does before the merge), using the reconciliation's replay. An
// item the file describes exactly as when it was last loaded is skipped, as
// the engine skips it.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { readSaleFile, SaleDefinitionError } from '../engine/sale-definition';
import { checkAgainstSold, type ItemSales } from '../engine/sale-rules';
import { databaseFile, logDirectory } from '../persistence/data-directory';
import type { ItemDefinition, SaleMode } from '../persistence/item-definition';
import { reconcile } from './reconciliation';
import { EXIT_FAILED, EXIT_OK, optionalString, runCommand, UsageError, type CommandSpec } from './script-cli';

const COMMAND: CommandSpec = {
  name: 'sale',
  usage: ['check FILE [--data DIR]'],
  description: [
    'check FILE: validates a sale file exactly as the engine does at start-up, without starting it,',
    'and prints each item (id, stock, mode, perUserLimit, startsAt, endsAt). An invalid file prints',
    "the engine's message, naming the item and the field, and exits 1.",
  ],
  flags: [
    {
      name: 'data', kind: 'string', value: 'DIR',
      help: 'Also check the file against the database in DIR (read-only), as start-up would: stock not below ' +
        'units held, perUserLimit not below what one user holds, mode unchanged once sold.',
    },
  ],
  positionalsMax: 2,
};

function describe(item: ItemDefinition, index: number): string {
  return `  item "${item.id}" (items[${index}]): stock ${item.stock}, mode ${item.mode}, ` +
    `perUserLimit ${item.perUserLimit}, ` +
    `startsAt ${new Date(item.startsAt).toISOString()}, endsAt ${new Date(item.endsAt).toISOString()}`;
}

interface Stored { row: number; mode: SaleMode; sales: ItemSales; fileDefinition: string | null }

/** Each stored item's mode and the definition a sale file last gave it, by id (databases before that column: null). */
function storedDefinitions(db: Database.Database): Map<string, { mode: SaleMode; fileDefinition: string | null }> {
  const columns = (db.prepare('PRAGMA table_info(items)').all() as { name: string }[]).map((c) => c.name);
  const fileDefinition = columns.includes('file_definition') ? 'file_definition' : 'NULL';
  const rows = db.prepare(`SELECT id, mode, ${fileDefinition} AS fileDefinition FROM items`).all();
  return new Map((rows as { id: string; mode: SaleMode; fileDefinition: string | null }[]).map((r) => [r.id, r]));
}

/** Each stored item's mode and sales, by id, in the database at DIR, after the unapplied log tail. */
function readStored(dataDir: string): { items: Map<string, Stored>; consistent: boolean } {
  const file = databaseFile(dataDir);
  if (!fs.existsSync(file)) {
    throw new UsageError(`--data: ${dataDir} holds no engine database (${path.basename(file)})`);
  }
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // One read transaction: SQLite and its log_applied bookkeeping from one moment, even if an engine runs.
    return db.transaction(() => {
      const byId = storedDefinitions(db);
      const result = reconcile(db, logDirectory(dataDir));
      const items = new Map(result.items.map((item): [string, Stored] => {
        const { mode, fileDefinition } = byId.get(item.id)!;
        const hasOrders = item.ordersInSqlite + item.ordersFromTail > 0;
        const sales = { unitsHeld: item.held, mostHeldByOneUser: item.mostHeldByOneUser, hasOrders };
        return [item.id, { row: item.row, mode, sales, fileDefinition }];
      }));
      return { items, consistent: result.consistent };
    })();
  } finally {
    db.close();
  }
}

/** The lines about each item against the database; throws SaleDefinitionError as start-up would. */
function checkAgainstDatabase(source: string, items: ItemDefinition[], stored: Map<string, Stored>): string[] {
  return items.map((item, index) => {
    const existing = stored.get(item.id);
    if (!existing) return `  item "${item.id}": new, will be added`;
    const held = existing.sales.unitsHeld;
    if (existing.fileDefinition === JSON.stringify(item)) {
      return `  item "${item.id}": unchanged since it was last loaded (row ${existing.row}, ${held} units held); ` +
        'left as it is';
    }
    checkAgainstSold(existing.sales, existing.mode, item, `${source}: item "${item.id}" (items[${index}])`);
    return `  item "${item.id}": will be updated (row ${existing.row}): stock ${item.stock} >= ${held} units held`;
  });
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, (args) => {
    const [action, file] = args.positionals;
    if (action === undefined) throw new UsageError('missing the action: check (see --help)');
    if (action !== 'check') throw new UsageError(`unknown action "${action}"; the action is check (see --help)`);
    if (file === undefined) throw new UsageError('check needs the sale FILE (see --help)');
    const dataDir = optionalString(args, 'data');
    const stored = dataDir === null ? null : readStored(path.resolve(dataDir));
    try {
      const items = readSaleFile(file);
      const lines = [`${file}: ${items.length} item(s)`, ...items.map(describe)];
      if (stored !== null) {
        lines.push(`against the database in ${path.resolve(dataDir!)}:`,
          ...checkAgainstDatabase(file, items, stored.items));
        if (!stored.consistent) {
          lines.push('  note: that data directory does not reconcile; run `node scripts/reconcile` on it');
        }
      }
      lines.push(`${file}: valid${stored !== null ? ' and fits the database' : ''}`);
      process.stdout.write(lines.join('\n') + '\n');
      return EXIT_OK;
    } catch (error) {
      if (!(error instanceof SaleDefinitionError)) throw error;
      process.stderr.write(`sale: ${error.message}\n`);
      return EXIT_FAILED;
    }
  });
}
