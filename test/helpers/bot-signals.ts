// Bot signals over small tables of their own, for unit tests that build a
// buy gate without the engine's shared state.

import { AddressUsers } from '../../engine/address-users';
import { BotSignals, SIGNAL_FIELDS } from '../../engine/bot-signals';
import { ITEMS_MAX } from '../../engine/constants';
import { SuspectUsers } from '../../engine/suspect-users';

export function localSignals(capacity = 64, suspectAddressUsers = 10): BotSignals {
  return new BotSignals(new Float64Array(ITEMS_MAX * SIGNAL_FIELDS), new SuspectUsers(capacity),
    new AddressUsers(capacity, capacity * 4, suspectAddressUsers));
}
