import type { Connection } from '../connection.ts'

/** PINGREQ → PINGRESP [MQTT-3.12.4-1]. */
export function handlePingreq (c: Connection): void {
  c.pingresp()
}
