/**
 * A real Mosquitto (from @culex/test-kit) with TCP, TLS and WebSocket listeners on free ports
 * and a self-signed certificate made with `openssl` at test time. `restart()` stops it
 * (persisting its database) and starts it again on the same ports.
 */
import { startMosquitto as start, mosquittoMissing as why, type Mosquitto, type Teardown } from '@culex/test-kit'

export { MOSQUITTO, type Mosquitto } from '@culex/test-kit'

/** Starts mosquitto with every listener; stopped at `t`'s teardown. */
export async function startMosquitto (t: Teardown, extra = ''): Promise<Mosquitto> {
  return await start(t, { ws: true, tls: true, extra })
}

/** Why the mosquitto suites cannot run here (mosquitto or openssl missing), or false when they can. */
export function mosquittoMissing (): string | false {
  return why({ tls: true })
}
