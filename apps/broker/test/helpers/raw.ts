// Raw MQTT bytes over a real socket, for bad-input tests.
import net from 'node:net'
import { within } from '@culex/test-kit'

/** Encode a remaining length (MQTT variable byte integer). */
export function varint (n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

export function str (s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

export function packet (first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body])
}

export function connect (version: 4 | 5, clientId: string): Buffer {
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0)
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([version, 0x02, 0x00, 0x3c]), props, str(clientId)]))
}

export function publish (version: 4 | 5, topic: string | Buffer, payload: Buffer, qos: 0 | 1 = 0): Buffer {
  const id = qos > 0 ? Buffer.from([0x00, 0x01]) : Buffer.alloc(0)
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0)
  return packet(0x30 | (qos << 1), Buffer.concat([str(topic), id, props, payload]))
}

export function subscribe (version: 4 | 5, filter: string): Buffer {
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0)
  return packet(0x82, Buffer.concat([Buffer.from([0x00, 0x01]), props, str(filter), Buffer.from([0x01])]))
}

export interface RawResult {
  /** Every byte received until the socket closed or the timeout. */
  data: Buffer
  /** Whether the broker closed the connection. */
  closed: boolean
}

/** Send `steps` (waiting `gapMs` between them), collect the answer until close or `timeoutMs`. */
export async function exchange (port: number, steps: Buffer[], opts: { timeoutMs?: number, gapMs?: number } = {}): Promise<RawResult> {
  const socket = net.connect({ port, host: '127.0.0.1' })
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const closed = new Promise<boolean>(resolve => socket.once('close', () => resolve(true)))
  for (const s of steps) {
    if (!socket.destroyed) socket.write(s)
    await new Promise(resolve => setTimeout(resolve, opts.gapMs ?? 50))
  }
  const result = await within(closed, opts.timeoutMs ?? 3000, false)
  socket.destroy()
  return { data: Buffer.concat(chunks), closed: result }
}

/** Split received bytes into [type byte, body] packets. */
export function splitPackets (data: Buffer): Array<{ type: number, body: Buffer }> {
  const out: Array<{ type: number, body: Buffer }> = []
  let i = 0
  while (i < data.length) {
    const type = data[i] as number
    let mul = 1
    let len = 0
    let j = i + 1
    for (;;) {
      const b = data[j++] as number
      len += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) break
    }
    out.push({ type, body: data.subarray(j, j + len) })
    i = j + len
  }
  return out
}
