/**
 * Test harness: a Broker and clients over in-memory duplex pairs (no sockets). Clients
 * encode and decode with mqtt-packet, an implementation independent of @culex/packet, so
 * every test also checks the broker's bytes against a second codec.
 */
import { Duplex } from 'node:stream'
import mqttPacket from 'mqtt-packet'
import { encode, type Packet } from '@culex/packet'
import { Broker, type BrokerOptions, type Bus, type BusMessage } from '../src/index.ts'

// tap's Test type, without importing tap's internals
export interface T {
  teardown (fn: () => unknown): void
}

export type AnyPacket = Record<string, any> & { cmd: string }

/** Two connected duplex streams: what one writes, the other reads. */
export function duplexPair (): [Duplex, Duplex] {
  const make = (peer: () => Duplex): Duplex => new Duplex({
    read () {},
    write (chunk, _enc, cb) {
      peer().push(chunk)
      cb()
    },
    final (cb) {
      peer().push(null)
      cb()
    }
  })
  const a: Duplex = make(() => b)
  const b: Duplex = make(() => a)
  return [a, b]
}

/** A new broker ($SYS off by default), closed at teardown. */
export function setup (t: T, opts: BrokerOptions = {}): Broker {
  const broker = new Broker({ sysInterval: 0, ...opts })
  t.teardown(() => broker.close())
  return broker
}

export interface ConnectOptions {
  protocolVersion?: 3 | 4 | 5
  clientId?: string
  clean?: boolean
  keepalive?: number
  username?: string
  password?: Buffer
  will?: AnyPacket['will']
  properties?: Record<string, unknown>
}

/** A scripted client: send packets, await the ones the broker sends back. */
export class TestClient {
  readonly stream: Duplex
  readonly version: 3 | 4 | 5
  readonly received: AnyPacket[] = []
  ended = false
  readonly #waiters: Array<() => void> = []
  #endWaiters: Array<() => void> = []

  constructor (broker: Broker, version: 3 | 4 | 5) {
    const [server, client] = duplexPair()
    this.stream = client
    this.version = version
    const parser = mqttPacket.parser({ protocolVersion: version })
    parser.on('packet', (p: AnyPacket) => {
      this.received.push(p)
      for (const w of this.#waiters.splice(0)) w()
    })
    parser.on('error', (err: Error) => { throw err })
    client.on('data', (chunk: Buffer) => parser.parse(chunk))
    client.on('end', () => {
      this.ended = true
      for (const w of this.#endWaiters.splice(0)) w()
      for (const w of this.#waiters.splice(0)) w()
    })
    broker.handle(server, { transport: 'other', remoteAddress: '127.0.0.1' })
  }

  /** Encode with mqtt-packet and write. */
  send (packet: AnyPacket): void {
    let bytes: Buffer
    try {
      bytes = mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: this.version })
    } catch {
      // mqtt-packet refuses some packets a broker must still handle (e.g. an empty client id
      // with clean session 0): encode those with @culex/packet
      bytes = encode(packet as Packet, this.version)
    }
    this.stream.write(bytes)
  }

  sendRaw (bytes: Buffer | number[]): void {
    this.stream.write(Buffer.from(bytes))
  }

  /** The next packet (optionally the next one with `cmd`, skipping others); rejects after `ms`. */
  async next (cmd?: string, ms = 2000): Promise<AnyPacket> {
    const deadline = Date.now() + ms
    for (;;) {
      const i = this.received.findIndex((p) => cmd === undefined || p.cmd === cmd)
      if (i >= 0) return this.received.splice(i, 1)[0]!
      if (this.ended) throw new Error(`stream ended while waiting for ${cmd ?? 'a packet'}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timeout waiting for ${cmd ?? 'a packet'}; have ${this.received.map((p) => p.cmd).join(',')}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Resolves true if nothing (of `cmd`) arrives within `ms`. */
  async nothing (ms = 100, cmd?: string): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return !this.received.some((p) => cmd === undefined || p.cmd === cmd)
  }

  /** Resolves when the broker closed the stream; rejects after `ms`. */
  async closed (ms = 2000): Promise<void> {
    if (this.ended) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('broker did not close the stream')), ms)
      this.#endWaiters.push(() => { clearTimeout(timer); resolve() })
    })
  }

  async subscribe (topic: string | Array<{ topic: string, qos: number, nl?: boolean, rap?: boolean, rh?: number }>, qos = 0, properties?: Record<string, unknown>): Promise<AnyPacket> {
    const subscriptions = typeof topic === 'string' ? [{ topic, qos }] : topic
    this.send({ cmd: 'subscribe', messageId: nextId(), subscriptions, ...(properties !== undefined ? { properties } : {}) })
    return await this.next('suback')
  }

  publish (topic: string, payload: string | Buffer, qos = 0, retain = false, extra: Record<string, unknown> = {}): number {
    const messageId = nextId()
    this.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain, dup: false, ...(qos > 0 ? { messageId } : {}), ...extra })
    return messageId
  }

  /** DISCONNECT then end. */
  disconnect (packet: AnyPacket = { cmd: 'disconnect' }): void {
    this.send(packet)
    this.stream.end()
  }

  /** Drop the connection without DISCONNECT. */
  drop (): void {
    this.stream.end()
  }
}

let id = 0
function nextId (): number {
  id = id % 65000 + 1
  return id
}

/** Connect a client and wait for its CONNACK (returned as `connack`). */
export async function connect (t: T, broker: Broker, opts: ConnectOptions = {}): Promise<TestClient & { connack: AnyPacket }> {
  const version = opts.protocolVersion ?? 4
  const c = new TestClient(broker, version) as TestClient & { connack: AnyPacket }
  t.teardown(() => { c.stream.destroy() })
  c.send({
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clientId: opts.clientId ?? `c${nextId()}`,
    clean: opts.clean ?? true,
    keepalive: opts.keepalive ?? 0,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.will !== undefined ? { will: opts.will } : {}),
    ...(opts.properties !== undefined ? { properties: opts.properties } : {})
  })
  c.connack = await c.next('connack')
  return c
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Two in-process nodes joined by a Bus that hands each message to the other node on the next
 * turn; `alive` is what aliveNodes answers (read on each call, so a test may change it).
 * With `addressed`, the buses also have `sendTo` (to the other node only; a message to any
 * other id is dropped, as into the inbox of a node that never runs).
 */
export function pairBus (alive: string[] = ['a', 'b'], opts: { addressed?: boolean } = {}): [Bus, Bus] {
  const handlers: Array<(m: BusMessage) => void> = []
  const ids = ['a', 'b']
  const make = (nodeId: string, peer: number): Bus => {
    const bus: Bus = {
      nodeId,
      async send (message) { setImmediate(() => handlers[peer]?.(message)) },
      onMessage (handler) { handlers[peer === 1 ? 0 : 1] = handler },
      async aliveNodes () { return [...alive] },
      async close () {}
    }
    if (opts.addressed === true) {
      bus.sendTo = async (to, message) => {
        if (to === ids[peer]) setImmediate(() => handlers[peer]?.(message))
      }
    }
    return bus
  }
  return [make('a', 1), make('b', 0)]
}
