import type { ConnectionPort } from './ports.ts'

/** PINGREQ → PINGRESP [MQTT-3.12.4-1]. */
export function handlePingreq (c: ConnectionPort): void {
  c.pingresp()
}
