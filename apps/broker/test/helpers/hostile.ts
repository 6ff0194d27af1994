// Shared pieces of the hostile-client tests: the broker's RSS from /proc, a canary client
// exchanging QoS 1 messages with itself through the broker while an attack runs, and raw
// sockets.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import mqtt, { type MqttClient } from 'mqtt'

interface Tap {
  teardown: (fn: () => unknown) => void
}

/** Resident set size of process `pid`, bytes (Linux /proc). */
export function rss (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1]) * 1024
}

/** Samples the RSS of `pid` every `ms` until stopped; `peak` is the largest seen. */
export function rssSampler (pid: number, ms = 20): { peak: () => number, stop: () => number } {
  let peak = rss(pid)
  const timer = setInterval(() => {
    try { peak = Math.max(peak, rss(pid)) } catch { /* exited */ }
  }, ms)
  return {
    peak: () => peak,
    stop: () => { clearInterval(timer); try { peak = Math.max(peak, rss(pid)) } catch {} return peak }
  }
}

export const MB = 1024 * 1024
export const mb = (n: number): string => `${(n / MB).toFixed(1)} MB`

export interface CanaryResult {
  sent: number
  received: number
  /** Largest publish → receive delay, ms. */
  maxLatency: number
}

/**
 * A client that publishes QoS 1 to itself every `everyMs` and checks each message comes
 * back; `stop()` waits for the last ones and reports.
 */
export async function canary (t: Tap, port: number, everyMs = 20): Promise<{ stop: () => Promise<CanaryResult> }> {
  const client: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, clientId: `canary-${process.pid}-${Date.now()}` })
  t.teardown(() => { client.end(true) })
  await client.subscribeAsync('canary/#', { qos: 1 })
  const sentAt = new Map<string, number>()
  let sent = 0
  let received = 0
  let maxLatency = 0
  client.on('message', (_topic, payload) => {
    const at = sentAt.get(payload.toString())
    if (at === undefined) return
    sentAt.delete(payload.toString())
    received++
    maxLatency = Math.max(maxLatency, Date.now() - at)
  })
  const timer = setInterval(() => {
    const id = String(++sent)
    sentAt.set(id, Date.now())
    client.publish('canary/x', id, { qos: 1 })
  }, everyMs)
  return {
    stop: async () => {
      clearInterval(timer)
      const deadline = Date.now() + 5000
      while (sentAt.size > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      client.end(true)
      return { sent, received, maxLatency }
    }
  }
}

/** Open a raw TCP socket to the broker (errors ignored), optionally from another loopback address; resolves once connected. */
export async function rawSocket (t: Tap, port: number, localAddress?: string): Promise<net.Socket & { closedAt: Promise<number> }> {
  const s = net.connect({ port, host: '127.0.0.1', ...(localAddress !== undefined ? { localAddress } : {}) }) as net.Socket & { closedAt: Promise<number> }
  s.on('error', () => {})
  s.on('data', () => {})
  s.closedAt = new Promise(resolve => s.once('close', () => resolve(Date.now())))
  t.teardown(() => { s.destroy() })
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  return s
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
