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
}
