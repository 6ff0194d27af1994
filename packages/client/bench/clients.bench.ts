/**
 * @culex/client vs MQTT.js 5.16.0, same process, same Mosquitto, same load:
 *  - QoS 0 publish throughput: N publishes, then one QoS 1 publish whose PUBACK proves the
 *    broker has read everything before it (Mosquitto handles a connection's packets in order);
 *  - QoS 1 round trip: publish N QoS 1 messages to a topic the same client subscribes to,
 *    in windows of W, until every PUBACK and every message came back;
 *  - messages/s received: a raw socket blasts N pre-encoded QoS 0 PUBLISH packets; time
 *    from the subscriber's first message to its Nth.
 */
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import mqtt from 'mqtt'
import { encode } from '@culex/packet'
import { Client } from '../src/index.ts'

export interface Contestant {
  name: string
  connect: (port: number, version: 4 | 5) => Promise<Peer>
}

/** The operations every contestant offers, written in each library's fastest idiom. */
export interface Peer {
  /** Publishes QoS 0 without waiting, calling `done` when accepted by the library. */
  pub0: (topic: string, payload: Buffer, last: boolean) => Promise<void> | undefined
  pub1: (topic: string, payload: Buffer) => Promise<void>
  sub: (filter: string, qos: 0 | 1) => Promise<void>
  onMessage: (fn: (topic: string, payload: Buffer) => void) => void
  end: () => Promise<void>
}

export const culex: Contestant = {
  name: '@culex/client',
  async connect (port, version) {
    const c = new Client({ url: `mqtt://127.0.0.1:${port}`, protocolVersion: version, reconnect: false })
    await c.connect()
    return {
      pub0: (topic, payload) => c.publish(topic, payload) as Promise<undefined>,
      pub1: async (topic, payload) => { await c.publish(topic, payload, { qos: 1 }) },
      sub: async (filter, qos) => { await c.subscribe(filter, { qos }) },
      onMessage: (fn) => { c.on('message', (m) => fn(m.topic, m.payload)) },
      end: () => c.end()
    }
  }
}

export const mqttjs: Contestant = {
  name: 'mqtt (MQTT.js) 5.16.0',
  async connect (port, version) {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: version, reconnectPeriod: 0 })
    await new Promise<void>((resolve, reject) => { c.once('connect', () => resolve()); c.once('error', reject) })
    return {
      pub0: (topic, payload, last) => {
        if (!last) {
          c.publish(topic, payload, { qos: 0 })
          return undefined
        }
        return new Promise<void>((resolve, reject) => c.publish(topic, payload, { qos: 0 }, (err) => err ? reject(err) : resolve()))
      },
      pub1: async (topic, payload) => { await c.publishAsync(topic, payload, { qos: 1 }) },
      sub: async (filter, qos) => { await c.subscribeAsync(filter, { qos }) },
      onMessage: (fn) => { c.on('message', fn) },
      end: async () => { await c.endAsync() }
    }
  }
}

const PAYLOAD = Buffer.alloc(16, 'x')

/** QoS 0 publish: returns messages/s. Waits on the library every `batch` publishes. */
export async function qos0Publish (peer: Peer, n: number, topic: string, batch = 1000): Promise<number> {
  const t0 = performance.now()
  for (let i = 0; i < n; i += batch) {
    const end = Math.min(n, i + batch)
    let last: Promise<void> | undefined
    for (let j = i; j < end; j++) last = peer.pub0(topic, PAYLOAD, j === end - 1)
    await last
  }
  await peer.pub1(topic, PAYLOAD) // the broker has read everything once this is acknowledged
  return n / ((performance.now() - t0) / 1000)
}

/**
 * QoS 0 publish, library cost only: the client writes through a {@link Gate} that holds the
 * bytes, so the time is what the library needs to encode and write `n` messages (until its
 * last publish is reported written). Then the gate releases everything to Mosquitto and a
 * QoS 1 publish checks that Mosquitto read it all (not timed).
 */
export async function qos0PublishGated (c: Contestant, brokerPort: number, version: 4 | 5, n: number, topic: string, batch = 1000): Promise<number> {
  const gate = new Gate(brokerPort)
  const port = await gate.listen()
  const peer = await c.connect(port, version)
  try {
    gate.holdUp()
    const t0 = performance.now()
    for (let i = 0; i < n; i += batch) {
      const end = Math.min(n, i + batch)
      let last: Promise<void> | undefined
      for (let j = i; j < end; j++) last = peer.pub0(topic, PAYLOAD, j === end - 1)
      await last
    }
    const rate = n / ((performance.now() - t0) / 1000)
    gate.releaseUp()
    await peer.pub1(topic, PAYLOAD)
    return rate
  } finally {
    await peer.end()
    gate.close()
  }
}

/** QoS 1 round trip: returns messages/s (published, acknowledged and received back). */
export async function qos1RoundTrip (peer: Peer, n: number, topic: string, window = 100): Promise<number> {
  let received = 0
  let resolveAll!: () => void
  const all = new Promise<void>((resolve) => { resolveAll = resolve })
  peer.onMessage((t) => { if (t === topic && ++received === n) resolveAll() })
  await peer.sub(topic, 1)
  const t0 = performance.now()
  for (let i = 0; i < n; i += window) {
    const batch: Array<Promise<void>> = []
    for (let j = i; j < Math.min(n, i + window); j++) batch.push(peer.pub1(topic, PAYLOAD))
    await Promise.all(batch)
  }
  await all
  return n / ((performance.now() - t0) / 1000)
}

/**
 * A byte gate between Mosquitto and the subscriber: while closed it holds what Mosquitto
 * sends; `release()` hands the whole backlog to the subscriber at once. Mosquitto writes
 * one small segment per message, so without the gate the subscriber's rate is Mosquitto's
 * send rate (see `raw` in the table), not the client's; with it both clients parse the
 * same backlog as fast as they can.
 */
export class Gate {
  readonly server: Server
  #held: Buffer[] = []
  #heldBytes = 0
  #want = Infinity
  #full: (() => void) | null = null
  #holding = false
  #client: Socket | null = null
  #holdingUp = false
  #heldUp: Buffer[] = []
  #up: Socket | null = null

  constructor (brokerPort: number) {
    this.server = createServer((client) => {
      this.#client = client
      client.setNoDelay(true)
      const up = netConnect(brokerPort, '127.0.0.1')
      this.#up = up
      up.setNoDelay(true)
      client.on('data', (d: Buffer) => {
        if (!this.#holdingUp) {
          up.write(d)
          return
        }
        this.#heldUp.push(d)
      })
      up.on('data', (d: Buffer) => {
        if (!this.#holding) {
          client.write(d)
          return
        }
        this.#held.push(d)
        this.#heldBytes += d.length
        if (this.#heldBytes >= this.#want && this.#full !== null) this.#full()
      })
      const done = (): void => { client.destroy(); up.destroy() }
      client.on('close', done)
      up.on('close', done)
      client.on('error', done)
      up.on('error', done)
    })
  }

  async listen (): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()))
    return (this.server.address() as AddressInfo).port
  }

  /** Starts holding; resolves once `bytes` are held. */
  hold (bytes: number): Promise<void> {
    this.#holding = true
    this.#want = bytes
    return new Promise((resolve) => { this.#full = resolve })
  }

  release (): void {
    this.#holding = false
    const all = Buffer.concat(this.#held)
    this.#held = []
    this.#heldBytes = 0
    this.#client!.write(all)
  }

  /** Holds what the client sends (it reaches the broker on `releaseUp()`). */
  holdUp (): void {
    this.#holdingUp = true
  }

  releaseUp (): void {
    this.#holdingUp = false
    this.#up!.write(Buffer.concat(this.#heldUp))
    this.#heldUp = []
  }

  close (): void {
    this.server.close()
  }
}

/**
 * Receive: the subscriber (through a {@link Gate}) subscribes; a raw socket publishes `n`
 * pre-encoded QoS 0 messages; once Mosquitto has sent them all into the gate, the gate
 * releases them. Returns messages/s from release to the subscriber's nth message.
 */
export async function receive (c: Contestant, brokerPort: number, version: 4 | 5, n: number, topic: string): Promise<number> {
  const gate = new Gate(brokerPort)
  const port = await gate.listen()
  const peer = await c.connect(port, version)
  try {
    let received = 0
    let resolveAll!: () => void
    const all = new Promise<void>((resolve) => { resolveAll = resolve })
    peer.onMessage((t) => { if (t === topic && ++received === n) resolveAll() })
    await peer.sub(topic, 0)
    const pkt = { cmd: 'publish', topic, payload: PAYLOAD, qos: 0, dup: false, retain: false } as const
    const one = encode(pkt, 4)
    const blob = Buffer.alloc(one.length * n)
    for (let i = 0; i < n; i++) one.copy(blob, i * one.length)
    const held = gate.hold(encode(pkt, version).length * n)
    const feeder = netConnect(brokerPort, '127.0.0.1')
    await new Promise<void>((resolve) => feeder.once('connect', () => resolve()))
    feeder.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'feeder' + Math.random() }, 4))
    feeder.write(blob)
    await held
    const t0 = performance.now()
    gate.release()
    await all
    const rate = n / ((performance.now() - t0) / 1000)
    feeder.destroy()
    return rate
  } finally {
    await peer.end()
    gate.close()
  }
}
