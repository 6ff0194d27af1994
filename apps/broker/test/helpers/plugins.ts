// Shared by the plugin tests: MQTT.js 5 clients against a culex process, with the CONNACK,
// PUBACK and SUBACK reason codes as plain numbers.
import mqtt from 'mqtt'

interface Tap {
  teardown: (fn: () => unknown) => void
}

/** Connect (5.0); the client, or the CONNACK reason code of a refusal. */
export async function connect5 (t: Tap, port: number, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient | number> {
  try {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    t.teardown(() => c.end(true))
    return c
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'number') return code
    throw err
  }
}

/** QoS 1 publish; the PUBACK reason code (0 = success). */
export async function puback (c: mqtt.MqttClient, topic: string, payload = 'x'): Promise<number> {
  try {
    const r = await c.publishAsync(topic, payload, { qos: 1 })
    return (r as { reasonCode?: number } | undefined)?.reasonCode ?? 0
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'number') return code
    throw err
  }
}

/** Subscribe; the granted QoS or SUBACK reason code. */
export async function suback (c: mqtt.MqttClient, filter: string, qos: 0 | 1 | 2 = 1): Promise<number> {
  try {
    const granted = await c.subscribeAsync(filter, { qos })
    return granted[0]!.qos
  } catch (err) {
    // MQTT.js rejects a SUBACK that refuses every filter
    const g = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet?.granted?.[0]
    if (g === undefined) throw err
    return typeof g === 'number' ? g : g.qos
  }
}

/** Collect the topics (and payloads) a client receives. */
export function inbox (c: mqtt.MqttClient): Array<[string, string]> {
  const got: Array<[string, string]> = []
  c.on('message', (topic, payload) => got.push([topic, payload.toString()]))
  return got
}

export async function until (pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
