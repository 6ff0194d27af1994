/**
 * Test helpers: an Aedes-over-Culex broker on a free TCP port, MQTT.js clients, and a
 * self-signed certificate made with `openssl`.
 */
import { createServer, type AddressInfo, type Server } from 'node:net'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Aedes, type AedesOptions } from '../../src/index.ts'

export interface Running {
  aedes: Aedes
  server: Server
  port: number
  url: string
}

interface Teardown { teardown: (fn: () => unknown) => void }

/** `Aedes.createBroker(opts)` behind `net.createServer(aedes.handle)` on a free port. */
export async function startBroker (t: Teardown, opts: AedesOptions = {}): Promise<Running> {
  const aedes = await Aedes.createBroker(opts)
  const server = createServer(aedes.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  t.teardown(() => stopBroker({ aedes, server, port, url: '' }))
  return { aedes, server, port, url: `mqtt://127.0.0.1:${port}` }
}

export async function stopBroker (r: Running): Promise<void> {
  await new Promise<void>((resolve) => { r.aedes.close(() => resolve()) })
  await new Promise<void>((resolve) => { r.server.close(() => resolve()) })
}

/** An MQTT.js client, ended at teardown; resolves on `connect`. */
export async function connect (t: Teardown, url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => new Promise<void>((resolve) => { c.end(true, {}, () => resolve()) }))
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
  })
  return c
}

/** An MQTT.js client whose CONNECT is expected to be refused: resolves with the error (code = return/reason code). */
export async function refused (t: Teardown, url: string, opts: IClientOptions = {}): Promise<Error & { code?: number }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => new Promise<void>((resolve) => { c.end(true, {}, () => resolve()) }))
  return await new Promise((resolve, reject) => {
    c.once('connect', () => reject(new Error('connected, expected a refusal')))
    c.once('error', (err) => resolve(err as Error & { code?: number }))
  })
}

/** Resolves with the next message `c` receives. */
export function nextMessage (c: MqttClient): Promise<{ topic: string, payload: Buffer, packet: mqtt.IPublishPacket }> {
  return new Promise((resolve) => {
    c.once('message', (topic, payload, packet) => { resolve({ topic, payload, packet }) })
  })
}

/** A self-signed certificate for 127.0.0.1 / localhost (once per process). */
export { makeCert } from '@culex/test-kit'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** SUBSCRIBE and resolve with the SUBACK codes (MQTT.js rejects a refusal; we want to see it). */
export function subackCodes (c: MqttClient, topics: string[], qos: 0 | 1 | 2 = 0): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (p: mqtt.Packet): void => {
      if (p.cmd !== 'suback') return
      c.removeListener('packetreceive', onPacket)
      resolve((p as { granted?: number[] }).granted ?? [])
    }
    c.on('packetreceive', onPacket)
    c.subscribe(topics, { qos }, () => {})
  })
}
