// `node scripts/verify-draw`: checks a fair window's published draw (GET
// /api/items/:id/draw, or its file) the way any shopper could, with the
// rules of engine/fair-draw.ts: the seed matches the hash published before
// the start, the places are the seeded shuffle of the sorted entrants, and
// the results follow the places (units go to place 1, 2, ... until none
// is left). With --user it prints that user's place and result, found by
// hashing the user id with the seed as the engine did.

import fs from 'node:fs';
import { drawPlaces, entrantHash, seedHashOf } from '../engine/fair-draw';
import type { DrawProof } from '../engine/fair-window';
import { EXIT_FAILED, EXIT_OK, optionalInt, runCommand, UsageError, type CommandSpec } from './script-cli';

const COMMAND: CommandSpec = {
  name: 'verify-draw',
  usage: ['URL|FILE [--user ID]'],
  description: [
    'Checks a published fair-window draw: the URL of GET /api/items/:id/draw, or a file holding it.',
    'Prints "draw verified" and exits 0 when the seed, the order of places and the results all check;',
    'names the first thing that does not and exits 1 otherwise.',
  ],
  flags: [
    { name: 'user', kind: 'int', value: 'ID', min: 1, help: 'Also print the place and result of this user.' },
  ],
  positionalsMax: 1,
};

async function readProof(source: string): Promise<DrawProof> {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new UsageError(`${source} answered ${response.status}`);
    return await response.json() as DrawProof;
  }
  return JSON.parse(fs.readFileSync(source, 'utf8')) as DrawProof;
}

/** The first thing about `proof` that does not check, or null when it is a true draw. */
export function checkDraw(proof: DrawProof): string | null {
  const seed = Buffer.from(proof.seed, 'hex');
  if (seed.length !== 32 || seedHashOf(seed) !== proof.seedHash) return 'the seed does not match its published hash';
  const sorted = [...proof.entrants].sort();
  if (sorted.some((hash, i) => hash !== proof.entrants[i] || (i > 0 && hash === sorted[i - 1]))) {
    return 'the entrants are not a sorted list of distinct hashes';
  }
  const places = drawPlaces(seed, proof.entrants);
  const differs = places.findIndex((hash, i) => proof.places[i]?.entrant !== hash);
  if (differs >= 0 || proof.places.length !== places.length) {
    return `place ${differs + 1} is not the one the seed draws`;
  }
  let won = 0;
  for (let i = 0; i < proof.places.length; i++) {
    const { result, order } = proof.places[i]!;
    if (result === 'won' && (won === proof.left || order === null)) return `place ${i + 1} won more than was left`;
    if (result === 'won') won++;
    if (result === 'sold_out' && won < proof.left) return `place ${i + 1} was told sold_out while units were left`;
  }
  return null;
}

export function main(argv: readonly string[]): Promise<number> {
  return runCommand(COMMAND, argv, async (args) => {
    const source = args.positionals[0];
    if (source === undefined) throw new UsageError('name the draw: a URL or a file');
    const proof = await readProof(source);
    const problem = checkDraw(proof);
    if (problem !== null) {
      process.stdout.write(`draw NOT verified: ${problem}\n`);
      return EXIT_FAILED;
    }
    const won = proof.places.filter((place) => place.result === 'won').length;
    process.stdout.write(`draw verified: ${proof.places.length} entrants, ${won} won, ${proof.left} units were left\n`);
    const user = optionalInt(args, 'user');
    if (user !== null) {
      const hash = entrantHash(proof.seed, user);
      const place = proof.places.findIndex((entry) => entry.entrant === hash);
      process.stdout.write(place < 0 ? `user ${user}: not an entrant\n`
        : `user ${user}: place ${place + 1}, ${proof.places[place]!.result}` +
          `${proof.places[place]!.order === null ? '' : `, order ${proof.places[place]!.order}`}\n`);
    }
    return EXIT_OK;
  });
}
