// The audit trail of the admin API: every action that changes something is
// kept in the database's admin_actions table (read back by GET
// /admin/actions) and logged, with who asked, from where, and what.

import type pino from 'pino';
import { recordAdminAction, type Db } from '../persistence/database';

/** Who asked: the X-Admin-Actor header (or "admin") and the client's address. */
export interface Caller {
  actor: string;
  address: string;
}

export function audit(db: Db, log: pino.Logger, caller: Caller, action: string, detail: unknown): void {
  const entry = { at: Date.now(), ...caller, action, detail };
  recordAdminAction(db, entry);
  log.info({ admin: entry }, `admin ${action}`);
}
