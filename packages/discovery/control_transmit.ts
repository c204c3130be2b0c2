/**
 * {@linkcode ControlTransmit}: a control message a state machine wants sent.
 *
 * @module
 */

import type { ControlMessage, Locator } from "@serval/wire";

/** A control message to send, to one locator or by broadcast on every link. */
export interface ControlTransmit {
  readonly to: Locator | "broadcast";
  readonly message: ControlMessage;
}
