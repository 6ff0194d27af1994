/**
 * Runs the shared suite against a real Mosquitto over one transport, MQTT 3.1.1 and 5.0.
 * Connections go through a byte proxy so tests can cut them mid-flow.
 */
import t from 'tap'
import { startMosquitto, mosquittoMissing, type Mosquitto } from './mosquitto.ts'
import { startProxy } from './proxy.ts'
import { clientSuite, type TransportName } from './suite.ts'

const schemes: Record<TransportName, string> = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' }

export function runMosquittoSuite (transport: TransportName): void {
  const missing = mosquittoMissing()
  if (missing !== false) {
    t.test(`the client suite against Mosquitto over ${transport}`, { skip: missing }, () => {})
    return
  }
  let broker: Promise<Mosquitto> | undefined
  const getBroker = async (): Promise<Mosquitto> => {
    broker ??= startMosquitto(t)
    return await broker
  }
  for (const version of [4, 5] as const) {
    clientSuite(t, 'mosquitto', transport, version, async (tt) => {
      const m = await getBroker()
      const port = m.ports[transport]
      const proxy = await startProxy(tt, () => port)
      return {
        url: `${schemes[transport]}://127.0.0.1:${proxy.port}`,
        tls: { ca: m.ca },
        cut: proxy.cut,
        restart: m.restart
      }
    })
  }
}
