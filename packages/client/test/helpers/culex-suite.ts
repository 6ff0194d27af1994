/**
 * Runs the shared suite against the real `culex` broker app over one transport, MQTT 3.1.1
 * and 5.0, through a byte proxy so tests can cut connections.
 */
import t from 'tap'
import { culexMissing, startCulex, type Culex } from './culex.ts'
import { startProxy } from './proxy.ts'
import { clientSuite, type TransportName } from './suite.ts'

const urls: Record<TransportName, (port: number) => string> = {
  tcp: (p) => `mqtt://127.0.0.1:${p}`,
  tls: (p) => `mqtts://127.0.0.1:${p}`,
  ws: (p) => `ws://127.0.0.1:${p}/mqtt`,
  wss: (p) => `wss://127.0.0.1:${p}/mqtt`
}

export function runCulexSuite (transport: TransportName): void {
  const missing = culexMissing()
  if (missing !== false) {
    t.test(`the client suite against culex over ${transport}`, { skip: missing }, () => {})
    return
  }
  let broker: Promise<Culex> | undefined
  const getBroker = async (): Promise<Culex> => {
    broker ??= startCulex(t)
    return await broker
  }
  for (const version of [4, 5] as const) {
    clientSuite(t, 'culex', transport, version, async (tt) => {
      const b = await getBroker()
      const proxy = await startProxy(tt, () => b.ports[transport])
      return { url: urls[transport](proxy.port), tls: { ca: b.ca }, cut: proxy.cut, restart: b.restart }
    })
  }
}
