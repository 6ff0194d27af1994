/**
 * `$SYS` topics, published as retained QoS 0 messages every `sysInterval` seconds under
 * Mosquitto's names (`$SYS/broker/...`), with Mosquitto-style load averages: exponentially
 * smoothed per-minute rates over 1, 5 and 15 minutes.
 */
import type { Broker } from './broker.ts'

/** Version string published on `$SYS/broker/version`. */
export const VERSION = 'culex 0.1.0'

const WINDOWS = [['1min', 60], ['5min', 300], ['15min', 900]] as const
const LOADS = [
  ['messages/received', 'messagesReceived'],
  ['messages/sent', 'messagesSent'],
  ['publish/received', 'publishReceived'],
  ['publish/sent', 'publishSent'],
  ['publish/dropped', 'publishDropped'],
  ['bytes/received', 'bytesReceived'],
  ['bytes/sent', 'bytesSent'],
  ['connections', 'connectionsTotal']
] as const

/** @internal Publishes the `$SYS` tree of one broker on a timer. */
export class SysPublisher {
  readonly #broker: Broker
  readonly #every: number
  readonly #timer: NodeJS.Timeout
  readonly #last = new Map<string, number>()
  readonly #load = new Map<string, number>()

  constructor (broker: Broker, everySeconds: number) {
    this.#broker = broker
    this.#every = everySeconds
    this.#timer = setInterval(() => {
      this.publish().catch((err: unknown) => { broker.storeError('publishing $SYS', err) })
    }, everySeconds * 1000)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
  }

  /** Publish every topic once now. */
  async publish (): Promise<void> {
    const b = this.#broker
    const st = b.stats
    let disconnected = 0
    for (const s of b.sessions.values()) if (s.conn === null) disconnected++
    const values: Array<[string, string]> = [
      ['version', VERSION],
      ['uptime', `${Math.floor((Date.now() - st.startedAt) / 1000)} seconds`],
      ['clients/connected', String(st.clientsConnected)],
      ['clients/disconnected', String(disconnected)],
      ['clients/total', String(st.clientsConnected + disconnected)],
      ['clients/maximum', String(st.clientsMaximum)],
      ['messages/received', String(st.messagesReceived)],
      ['messages/sent', String(st.messagesSent)],
      ['publish/messages/received', String(st.publishReceived)],
      ['publish/messages/sent', String(st.publishSent)],
      ['publish/messages/dropped', String(st.publishDropped)],
      ['bytes/received', String(st.bytesReceived)],
      ['bytes/sent', String(st.bytesSent)],
      ['subscriptions/count', String(b.subscriptionCount)],
      ['retained messages/count', String(await b.store.countRetained())]
    ]
    for (const [name, key] of LOADS) {
      const now = st[key]
      const before = this.#last.get(key) ?? now
      this.#last.set(key, now)
      const perMinute = (now - before) * 60 / this.#every
      for (const [label, seconds] of WINDOWS) {
        const k = `${name}/${label}`
        const prev = this.#load.get(k) ?? perMinute
        const alpha = Math.exp(-this.#every / seconds)
        const v = perMinute + alpha * (prev - perMinute)
        this.#load.set(k, v)
        values.push([`load/${k}`, v.toFixed(2)])
      }
    }
    for (const [topic, value] of values) {
      if (b.closed) return
      await b.publish({ topic: `$SYS/broker/${topic}`, payload: value, qos: 0, retain: true })
    }
  }
}
