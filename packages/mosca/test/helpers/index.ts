/**
 * Test helpers: a Mosca-settings server started and awaited, MQTT.js clients, and a real
 * `redis-server` on a free port with a temp dir (stopped at teardown).
 */
import { startRedis as kitStartRedis } from '@culex/test-kit'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Server, type MoscaSettings } from '../../src/index.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

/** `new Server(settings)`, resolved on `ready`, closed at teardown. */
export async function startServer (t: Teardown, settings: MoscaSettings): Promise<Server> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = new Server(settings, (err) => { if (err) reject(err); else resolve(s) })
  })
  t.teardown(() => closeServer(server))
  return server
}

export function closeServer (server: Server): Promise<void> {
  return new Promise((resolve) => { server.close(() => resolve()) })
}

export async function connect (t: Teardown, url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => new Promise<void>((resolve) => { c.end(true, {}, () => resolve()) }))
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
  })
  return c
}

export async function refused (t: Teardown, url: string, opts: IClientOptions = {}): Promise<Error & { code?: number }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  t.teardown(() => new Promise<void>((resolve) => { c.end(true, {}, () => resolve()) }))
  return await new Promise((resolve, reject) => {
    c.once('connect', () => reject(new Error('connected, expected a refusal')))
    c.once('error', (err) => resolve(err as Error & { code?: number }))
  })
}

export function nextMessage (c: MqttClient, filter: (topic: string) => boolean = () => true): Promise<{ topic: string, payload: Buffer, packet: mqtt.IPublishPacket }> {
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => {
      if (!filter(topic)) return
      c.removeListener('message', on)
      resolve({ topic, payload, packet })
    }
    c.on('message', on)
  })
}

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

/** A real redis-server on a free port with its own temp dir; stopped and removed at teardown. */
export async function startRedis (t: Teardown): Promise<{ port: number, url: string }> {
  const { port, url } = await kitStartRedis([], { teardown: t })
  return { port, url }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
