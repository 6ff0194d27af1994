/**
 * The streaming parser: an explicit state machine over chunks cut anywhere.
 *
 * States: TYPE (waiting for the first fixed-header byte), LENGTH (inside the remaining
 * length VBI, which may be split across chunks), BODY (collecting a packet that did not
 * fit in the chunk it started in), FAILED (terminal).
 *
 * Buffer lifetimes: when a packet lies entirely inside one chunk it is decoded in place,
 * and its PUBLISH payload and binary fields are views (`subarray`) into that chunk — valid
 * as long as the caller does not reuse the chunk (socket chunks are never reused). A packet
 * split across chunks is copied into a buffer of exactly its size (allocated only after
 * `maxPacketSize` was checked from the fixed header), and its views point into that buffer.
 *
 * Memory: a packet split across chunks never reserves more than twice the bytes that
 * arrived. Bodies up to 64 KiB get their exact buffer at once; a larger body starts with
 * 64 KiB (or what the first chunk holds) and doubles as bytes arrive, so a peer announcing
 * 16 MiB and sending 5 bytes holds 64 KiB, not 16 MiB.
 */
import { allocate } from './alloc.ts'
import { Decoder } from './decoder.ts'
import { PacketError } from './errors.ts'
import { HEADER_FLAGS } from './reason-codes.ts'
import type { Packet, ProtocolVersion } from './types.ts'

/** Options of {@link Parser}. */
export interface ParserOptions<C = unknown> {
  /**
   * Largest accepted packet in bytes, fixed header included. Default and maximum
   * 268435460 (1 + 4 + 268435455). Checked before any byte of the body is buffered.
   */
  maxPacketSize?: number
  /** Protocol version to decode with until a CONNECT says otherwise. Default 4. */
  protocolVersion?: ProtocolVersion
  /**
   * Require the first packet to be a CONNECT (a server's parser, [MQTT-3.1.0-1]): any other
   * packet type fails with `PACKET_ERR_CONNECT_EXPECTED` at its first byte, before its
   * length is read. Default false.
   */
  connectFirst?: boolean
  /**
   * Most user properties one packet may carry (all property sections of the packet
   * together); more fail with `PACKET_ERR_PROPERTIES_LIMIT` (reason code 0x95) as soon as
   * the first one too many is read. Default Infinity.
   */
  maxUserProperties?: number
  /**
   * Most bytes the user properties of one packet may take (names and values with their
   * length prefixes, all property sections together); more fail with
   * `PACKET_ERR_PROPERTIES_LIMIT` (reason code 0x95). Default Infinity.
   */
  maxUserPropertyBytes?: number
  /**
   * Shape of the `userProperties` the parser delivers. `'object'` (the default) is
   * mqtt-packet's `{ name: value | value[] }`, which cannot keep the order across names;
   * `'pairs'` is an array of `[name, value]` in wire order, the form to use when the order
   * matters (a broker forwarding messages must keep it [MQTT-3.3.2-18]).
   */
  userProperties?: 'object' | 'pairs'
  /** Called synchronously from `parse()` for each complete packet, with `this` = `context`. */
  onPacket?: (this: C, packet: Packet) => void
  /** Called at most once, with the first error (`this` = `context`); the parser then ignores all input. */
  onError?: (this: C, err: PacketError) => void
  /**
   * `this` for `onPacket` and `onError`. Lets many parsers share two functions instead of
   * holding two closures each (a server with 10,000 idle connections saves about 1.4 MB).
   */
  context?: C
}

const S_TYPE = 0
const S_LENGTH = 1
const S_BODY = 2
const S_FAILED = 3
/** Waiting for the first byte of the first packet, which must be a CONNECT (connectFirst). */
const S_FIRST = 4

/** Bodies split across chunks up to this size get their exact buffer at once; larger ones grow. */
const GROW_FROM = 65536

/** 1 byte fixed header + 4 byte VBI + 268435455 bytes. */
export const MAX_PACKET_SIZE = 268435460

const noop = (): void => {}

function checkMax (max: number): number {
  if (!Number.isInteger(max) || max < 2) {
    throw new RangeError(`Parser option maxPacketSize: expected an integer of at least 2 (bytes), got ${String(max)}`)
  }
  return Math.min(max, MAX_PACKET_SIZE)
}

function checkLimit (name: string, value: number | undefined): number {
  if (value === undefined) return Infinity
  if (!(value >= 0)) throw new RangeError(`Parser option ${name}: expected a number >= 0, got ${String(value)}`)
  return value
}

// One decoder for every parser: decoding is synchronous and calls no user code. Saves a
// 64-byte object per parser, and with release() no parser keeps its last chunk alive
// (about 0.27 KB per idle broker connection in packages/broker/bench/memory.bench.ts).
const decoder = new Decoder()

/**
 * Streaming MQTT parser. Feed it chunks with `parse()`; it calls `onPacket` for every
 * complete packet and `onError` at most once.
 * @example
 * const parser = new Parser({ onPacket: (p) => console.log(p.cmd), onError: (e) => console.error(e.code) })
 * parser.parse(Buffer.from([0xc0, 0x00])) // logs 'pingreq'
 */
export class Parser<C = unknown> {
  /** Version used to decode; learned from each CONNECT parsed. */
  protocolVersion: ProtocolVersion
  /** The first error, once failed. */
  error: PacketError | null
  #maxPacketSize: number
  readonly #maxUserProperties: number
  readonly #maxUserPropertyBytes: number
  readonly #pairs: boolean
  readonly #onPacket: (this: C, packet: Packet) => void
  readonly #onError: (this: C, err: PacketError) => void
  readonly #context: C
  #state: number
  #header: number
  #length: number
  #lengthBytes: number
  #multiplier: number
  #body: Buffer | null
  #filled: number

  /** Largest accepted packet in bytes (see {@link ParserOptions.maxPacketSize}). */
  get maxPacketSize (): number {
    return this.#maxPacketSize
  }

  /**
   * Change the largest accepted packet, e.g. raise a small pre-CONNECT limit once a CONNECT
   * was accepted. Applies from the next packet whose fixed header is read (a packet whose
   * length was already checked keeps being collected).
   * @param max - bytes, fixed header included; at least 2, capped at 268435460
   * @throws RangeError for a value that is not an integer of at least 2
   * @example
   * const parser = new Parser({ maxPacketSize: 8192, connectFirst: true })
   * parser.setMaxPacketSize(16 * 1024 * 1024)
   */
  setMaxPacketSize (max: number): void {
    this.#maxPacketSize = checkMax(max)
  }

  /** True once an error was reported (or `onPacket` threw); all later input is ignored. */
  get failed (): boolean {
    return this.#state === S_FAILED
  }

  /**
   * @param opts - see {@link ParserOptions}
   * @throws RangeError for a `protocolVersion` other than 3, 4, 5, a `maxPacketSize` below 2,
   * a negative `maxUserProperties` / `maxUserPropertyBytes`, or a `userProperties` other
   * than 'object' or 'pairs'
   */
  constructor (opts: ParserOptions<C> = {}) {
    const version = opts.protocolVersion ?? 4
    if (version !== 3 && version !== 4 && version !== 5) {
      throw new RangeError(`Parser option protocolVersion: expected 3, 4 or 5, got ${String(version)}`)
    }
    const maxUser = checkLimit('maxUserProperties', opts.maxUserProperties)
    const maxUserBytes = checkLimit('maxUserPropertyBytes', opts.maxUserPropertyBytes)
    const shape = opts.userProperties ?? 'object'
    if (shape !== 'object' && shape !== 'pairs') {
      throw new RangeError(`Parser option userProperties: expected 'object' or 'pairs', got ${String(shape)}`)
    }
    this.protocolVersion = version
    this.error = null
    this.#maxPacketSize = checkMax(opts.maxPacketSize ?? MAX_PACKET_SIZE)
    this.#maxUserProperties = maxUser
    this.#maxUserPropertyBytes = maxUserBytes
    this.#pairs = shape === 'pairs'
    this.#onPacket = opts.onPacket ?? noop
    this.#onError = opts.onError ?? noop
    this.#context = opts.context as C
    this.#state = opts.connectFirst === true ? S_FIRST : S_TYPE
    this.#header = 0
    this.#length = 0
    this.#lengthBytes = 0
    this.#multiplier = 1
    this.#body = null
    this.#filled = 0
  }

  /**
   * Consume one chunk. Never throws a PacketError: errors go to `onError`. An exception
   * thrown by `onPacket` itself propagates to the caller, and the rest of that chunk is
   * dropped (the parser marks itself failed without calling `onError`). A nested call from
   * inside `onPacket` is ignored.
   */
  parse (chunk: Buffer): void {
    const len = chunk.length
    let pos = 0
    while (pos < len) {
      switch (this.#state) {
        case S_FIRST: {
          const h = chunk[pos] as number
          if (h !== 0x10) {
            return this.#fail(new PacketError('PACKET_ERR_CONNECT_EXPECTED', `expected a CONNECT first (first byte 0x10), got first byte 0x${h.toString(16)}`)) // [MQTT-3.1.0-1]
          }
          this.#state = S_TYPE
          break
        }
        case S_TYPE: {
          const h = chunk[pos++] as number
          const type = h >> 4
          const want = HEADER_FLAGS[type] as number
          if (want !== (h & 15)) {
            if (want === -2 || (type === 15 && this.protocolVersion < 5)) {
              return this.#fail(new PacketError('PACKET_ERR_PACKET_TYPE', `expected a packet type 1..${this.protocolVersion < 5 ? 14 : 15}, got ${type} (first byte 0x${h.toString(16)})`)) // [MQTT-2.2.1] reserved types
            }
            if (want !== -1) {
              return this.#fail(new PacketError('PACKET_ERR_HEADER_FLAGS', `expected fixed header flags 0x${want.toString(16)} for packet type ${type}, got 0x${(h & 15).toString(16)}`)) // [MQTT-2.2.2-2] (3.1.1) [MQTT-2.1.3-1] (5.0)
            }
            // PUBLISH: QoS 3 and DUP with QoS 0 are malformed.
            if ((h & 6) === 6) return this.#fail(new PacketError('PACKET_ERR_QOS', 'expected PUBLISH QoS 0, 1 or 2, got 3')) // [MQTT-3.3.1-4]
            if ((h & 14) === 8) return this.#fail(new PacketError('PACKET_ERR_DUP_QOS0', 'expected DUP 0 on a QoS 0 PUBLISH, got 1')) // [MQTT-3.3.1-2]
          } else if (type === 15 && this.protocolVersion < 5) {
            return this.#fail(new PacketError('PACKET_ERR_PACKET_TYPE', `expected a packet type 1..14 in MQTT ${this.protocolVersion === 3 ? '3.1' : '3.1.1'}, got 15 (AUTH)`))
          }
          this.#header = h
          this.#length = 0
          this.#lengthBytes = 0
          this.#multiplier = 1
          this.#state = S_LENGTH
          break
        }
        case S_LENGTH: {
          const b = chunk[pos++] as number
          this.#length += (b & 0x7f) * this.#multiplier
          this.#lengthBytes++
          if (b > 0x7f) {
            if (this.#lengthBytes === 4) {
              return this.#fail(new PacketError('PACKET_ERR_VARINT', 'expected a remaining length of at most 4 bytes, got a 5th byte (offset 5)')) // 2.2.3 / 1.5.5
            }
            this.#multiplier *= 128
            break
          }
          if (b === 0 && this.#lengthBytes > 1) {
            return this.#fail(new PacketError('PACKET_ERR_VARINT', `expected a minimally encoded remaining length, got a trailing zero byte (offset ${this.#lengthBytes})`)) // [MQTT-1.5.5-1]
          }
          const size = 1 + this.#lengthBytes + this.#length
          if (size > this.#maxPacketSize) {
            return this.#fail(new PacketError('PACKET_ERR_PACKET_TOO_LARGE', `expected a packet of at most ${this.#maxPacketSize} bytes, got ${size} bytes announced by the fixed header`)) // [MQTT-3.1.2-24] [MQTT-3.2.2-15]
          }
          const need = this.#length
          if (len - pos >= need) {
            // Whole body inside this chunk: decode in place, no copy.
            if (!this.#emit(chunk, pos, pos + need)) return
            pos += need
          } else {
            // never reserve more than what arrived (or 64 KiB) for a body announced as large
            const body = allocate(need <= GROW_FROM ? need : Math.max(GROW_FROM, len - pos))
            chunk.copy(body, 0, pos, len)
            this.#filled = len - pos
            this.#body = body
            this.#state = S_BODY
            pos = len
          }
          break
        }
        case S_BODY: {
          let body = this.#body as Buffer
          const n = Math.min(this.#length - this.#filled, len - pos)
          if (this.#filled + n > body.length) {
            // grow by doubling (bounded by the announced length): at most 2× the bytes arrived
            const grown = Buffer.allocUnsafe(Math.min(this.#length, Math.max(body.length * 2, this.#filled + n)))
            body.copy(grown, 0, 0, this.#filled)
            body = this.#body = grown
          }
          chunk.copy(body, this.#filled, pos, pos + n)
          this.#filled += n
          pos += n
          if (this.#filled === this.#length) {
            this.#body = null
            if (!this.#emit(body, 0, body.length)) return
          }
          break
        }
        default:
          return
      }
    }
  }

  /** Decode and deliver one packet; false when the parser failed. */
  #emit (buf: Buffer, start: number, end: number): boolean {
    let packet: Packet
    try {
      packet = decoder.decode(this.#header, buf, start, end, this.protocolVersion, this.#maxUserProperties, this.#maxUserPropertyBytes, this.#pairs)
      decoder.release()
    } catch (err) {
      decoder.release()
      // The decoder throws nothing but PacketErrors (all reads are bounds-checked first).
      this.#fail(err as PacketError)
      return false
    }
    if (packet.cmd === 'connect') this.protocolVersion = packet.protocolVersion
    // Marked failed while user code runs: if onPacket throws, the parser stays failed
    // (the rest of the chunk is lost) instead of resuming mid-stream. No try/finally needed.
    this.#state = S_FAILED
    this.#onPacket.call(this.#context, packet)
    this.#state = S_TYPE
    return true
  }

  #fail (err: PacketError): void {
    this.#state = S_FAILED
    this.error = err
    this.#body = null
    this.#onError.call(this.#context, err)
  }
}
