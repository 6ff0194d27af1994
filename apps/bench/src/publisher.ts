/**
 * Publishers of the throughput scenarios.
 *
 * QoS 0: a batch of identical pre-encoded PUBLISH frames (about 16 KB) is written as one
 * buffer, as long as the socket accepts it; on backpressure the publisher waits for 'drain'.
 * It yields to the event loop every few batches so receiving is never starved.
 * QoS 1/2: a window of `inflight` pre-encoded frames, one per packet id; a frame is
 * written again when its PUBACK (QoS 1) or PUBCOMP (QoS 2) comes back, so at most
 * `inflight` publishes are unacknowledged and no buffer is allocated per message.
 * With a rate (> 0) both wait for the schedule instead of going flat out.
 * A `blocked()` gate (see LagGate) holds publishers back while too many of their messages
 * are still in transit to the subscribers: QoS 0 has no acknowledgement to pace it, and a
 * broker may acknowledge QoS 1/2 publishes long before it delivers them (queueing).
 */
import type { BenchClient } from './client.ts'
import { dueMessages } from './math.ts'
import { T, encodePublish } from './wire.ts'

/** Builds a batch of `frame` repeated so the batch is about `targetBytes` long. */
export function buildBatch (frame: Buffer, targetBytes = 16384, maxCount = 256): { batch: Buffer, count: number } {
  const count = Math.max(1, Math.min(maxCount, Math.floor(targetBytes / frame.length)))
  const batch = Buffer.allocUnsafe(frame.length * count)
  for (let i = 0; i < count; i++) frame.copy(batch, i * frame.length)
  return { batch, count }
}

export interface PublisherOptions {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  inflight: number
  /** Messages/s for this publisher; 0 = flat out. */
  rate: number
  /** Flow control: while it returns true, the publisher waits (polled every ms). */
  blocked?: () => boolean
  /** Most messages per QoS 0 batch write (keeps one batch small against the gate's limit). */
  maxBatch?: number
}

export class Publisher {
  /** QoS 0: messages written. QoS 1/2: messages acknowledged. */
  sent = 0
  readonly #client: BenchClient
  readonly #opts: PublisherOptions
  #running = false
  #start = 0
  #timer: NodeJS.Timeout | null = null
  // QoS 0
  readonly #frameLen: number
  #batch: Buffer | null = null
  #batchCount = 0
  #written = 0
  // QoS 1/2
  readonly #slots: Buffer[] = []
  readonly #free: number[] = []

  constructor (client: BenchClient, opts: PublisherOptions) {
    this.#client = client
    this.#opts = opts
    const frame = encodePublish({ topic: opts.topic, payload: opts.payload, qos: opts.qos, packetId: 1 })
    this.#frameLen = frame.length
    if (opts.qos === 0) {
      const b = buildBatch(frame, 16384, opts.maxBatch ?? 256)
      this.#batch = b.batch
      this.#batchCount = b.count
    } else {
      for (let i = 0; i < opts.inflight; i++) {
        this.#slots.push(encodePublish({ topic: opts.topic, payload: opts.payload, qos: opts.qos, packetId: i + 1 }))
      }
      const done = opts.qos === 1 ? T.puback : T.pubcomp
      client.onAck = (type, id) => {
        if (type !== done || id < 1 || id > this.#slots.length) return
        this.sent++
        if (!this.#running) return
        if ((this.#opts.rate > 0 && dueMessages(this.#opts.rate, performance.now() - this.#start, this.#written) === 0) ||
            (this.#opts.blocked !== undefined && this.#opts.blocked())) {
          this.#free.push(id - 1)
          return
        }
        this.#written++
        this.#client.write(this.#slots[id - 1] as Buffer)
      }
    }
  }

  /** Starts publishing. */
  start (): void {
    this.#running = true
    this.#start = performance.now()
    if (this.#opts.qos === 0) {
      if (this.#opts.rate > 0) this.#timer = setInterval(this.#tick0, 1)
      else this.#pump()
      return
    }
    if (this.#opts.rate > 0) {
      for (let i = this.#slots.length - 1; i >= 0; i--) this.#free.push(i)
      this.#timer = setInterval(this.#tickWindow, 1)
      return
    }
    // slots parked by the gate are resumed by this timer
    if (this.#opts.blocked !== undefined) this.#timer = setInterval(this.#tickWindow, 1)
    this.#client.socket.cork()
    for (const s of this.#slots) { this.#written++; this.#client.write(s) }
    this.#client.socket.uncork()
  }

  /** Stops publishing (acks still count). */
  stop (): void {
    this.#running = false
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  readonly #pump = (): void => {
    const c = this.#client
    const batch = this.#batch as Buffer
    const blocked = this.#opts.blocked
    for (let i = 0; i < 8; i++) {
      if (!this.#running || c.socket.destroyed) return
      if (blocked !== undefined && blocked()) { setTimeout(this.#pump, 1); return }
      this.sent += this.#batchCount
      if (!c.write(batch)) { c.socket.once('drain', this.#pump); return }
    }
    setImmediate(this.#pump)
  }

  readonly #tick0 = (): void => {
    let due = dueMessages(this.#opts.rate, performance.now() - this.#start, this.sent)
    const c = this.#client
    if (due === 0 || c.socket.writableNeedDrain) return
    const batch = this.#batch as Buffer
    c.socket.cork()
    while (due > 0) {
      const n = Math.min(due, this.#batchCount)
      c.write(n === this.#batchCount ? batch : batch.subarray(0, n * this.#frameLen))
      this.sent += n
      due -= n
    }
    c.socket.uncork()
  }

  readonly #tickWindow = (): void => {
    if (this.#free.length === 0) return
    if (this.#opts.blocked !== undefined && this.#opts.blocked()) return
    let due = this.#opts.rate > 0 ? dueMessages(this.#opts.rate, performance.now() - this.#start, this.#written) : this.#free.length
    if (due === 0) return
    const c = this.#client
    c.socket.cork()
    while (due > 0 && this.#free.length > 0) {
      const slot = this.#free.pop() as number
      this.#written++
      due--
      c.write(this.#slots[slot] as Buffer)
    }
    c.socket.uncork()
  }
}

/**
 * Publishes a list of distinct frames (QoS 1 or 2) keeping at most `window` unacknowledged,
 * patching packet ids in place. Resolves when all are acknowledged.
 * `acked()` reports progress for stall detection.
 */
export function publishAll (client: BenchClient, frames: readonly Buffer[], idOffsets: readonly number[], qos: 1 | 2, window: number): { done: Promise<void>, acked: () => number } {
  let next = 0
  let acked = 0
  const doneType = qos === 1 ? T.puback : T.pubcomp
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => { resolveDone = resolve })
  const send = (id: number): void => {
    const i = next++
    const f = frames[i] as Buffer
    const o = idOffsets[i] as number
    f[o] = id >> 8
    f[o + 1] = id & 255
    client.write(f)
  }
  client.onAck = (type, id) => {
    if (type !== doneType) return
    acked++
    if (acked === frames.length) { client.onAck = null; resolveDone(); return }
    if (next < frames.length) send(id)
  }
  if (frames.length === 0) resolveDone()
  client.socket.cork()
  for (let id = 1; id <= window && next < frames.length; id++) send(id)
  client.socket.uncork()
  return { done, acked: () => acked }
}

/**
 * End-to-end flow control for QoS 0 flat-out runs. Without it a publisher can push far more
 * than a broker delivers, and the broker buffers the difference without bound (aedes 1.2.0
 * then overflows its call stack draining that queue). The gate blocks while more than
 * `maxLag` expected deliveries are outstanding. A broker may drop QoS 0 messages for a slow
 * subscriber; when deliveries stop for `forgetMs` (1 s: long enough that a broker process
 * descheduled on a busy machine is not mistaken for one that dropped) while blocked, the
 * outstanding ones are written off as lost so the run continues.
 */
export class LagGate {
  readonly #maxLag: number
  readonly #fanout: number
  readonly #published: () => number
  readonly #delivered: () => number
  readonly #forgetMs: number
  #forgotten = 0
  #lastDelivered = -1
  #stalledSince = 0

  constructor (maxLag: number, fanout: number, published: () => number, delivered: () => number, forgetMs = 1000) {
    this.#maxLag = maxLag
    this.#fanout = fanout
    this.#published = published
    this.#delivered = delivered
    this.#forgetMs = forgetMs
  }

  /** Expected deliveries not yet seen (minus those written off). */
  outstanding (): number {
    return this.#published() * this.#fanout - this.#delivered() - this.#forgotten
  }

  /** Deliveries written off as lost. */
  get forgotten (): number { return this.#forgotten }

  readonly blocked = (): boolean => {
    const lag = this.outstanding()
    if (lag <= this.#maxLag) return false
    const d = this.#delivered()
    const now = performance.now()
    if (d !== this.#lastDelivered) {
      this.#lastDelivered = d
      this.#stalledSince = now
      return true
    }
    if (now - this.#stalledSince > this.#forgetMs) {
      this.#forgotten += lag
      return false
    }
    return true
  }
}
