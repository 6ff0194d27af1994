// A real Mosquitto with TCP and WebSocket listeners (for the bridge tests), from @culex/test-kit.
import { startMosquitto as start, mosquittoMissing as why, type Mosquitto, type Teardown } from '@culex/test-kit'

export { MOSQUITTO, freePort, type Mosquitto } from '@culex/test-kit'

/** Why Mosquitto tests cannot run here, or false. */
export const mosquittoMissing: string | false = why()

/** Start Mosquitto (TCP and WebSocket); it is stopped by its PID and its directory removed at teardown. */
export async function startMosquitto (t: Teardown): Promise<Mosquitto> {
  return await start(t, { ws: true })
}
