// The shape of one sale item as the database stores it and the engine sells
// it. The rules that check a definition live in engine/sale-definition.ts;
// only the type is here, so that persistence/ can store items without
// importing engine/.

export type SaleMode = 'order' | 'reserve';

export interface ItemDefinition {
  id: string;
  name: string;
  price: number;
  stock: number;
  perUserLimit: number;
  startsAt: number; // epoch ms
  endsAt: number; // epoch ms
  mode: SaleMode;
  payWindowSec: number;
  challenge: boolean;
  /** Shoppers may join a waitlist once it sells out (reserve mode only); absent means false. */
  waitlist?: boolean;
  /**
   * The fair start window in ms (engine/fair-window.ts), 0 for none: buys in
   * the first fairWindowMs after startsAt are entered and decided together,
   * in an order drawn from a committed seed.
   */
  fairWindowMs: number;
}
