/**
 * A trivial MQTT relay for `--ceiling`: it answers CONNECT, SUBSCRIBE, PINGREQ and the
 * publisher side of QoS 1/2, and forwards every PUBLISH it receives, byte for byte, to every
 * connection that has subscribed — no topic matching, no sessions, no retained messages.
 * It does the least a broker could, so a run against it shows the generator's own limit.
 * Runs of consecutive PUBLISH frames in a chunk are forwarded as one write.
 */
import net from 'node:net'
import { FrameScanner } from './scanner.ts'
import { T, writeAck } from './wire.ts'

const CONNACK = Buffer.from([0x20, 2, 0, 0])
const PINGRESP = Buffer.from([0xd0, 0])

/** A running relay. */
export interface Relay {
  port: number
  close: () => Promise<void>
}

/** Starts a relay on 127.0.0.1 and a free port. */
export function startRelay (): Promise<Relay> {
  const subscribers = new Set<net.Socket>()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    sockets.add(socket)
    let runStart = -1
    let runEnd = -1
    let runBuf: Buffer | null = null
    const flush = (): void => {
      if (runBuf === null) return
      const bytes = runBuf.subarray(runStart, runEnd)
      for (const s of subscribers) s.write(bytes)
      runBuf = null
    }
    const scanner = new FrameScanner((type, flags, buf, start, end) => {
      if (type === T.publish) {
        // header start: walk back over the remaining-length varint to the first byte
        let h = start - 1
        while (h > 0 && ((buf[h - 1] as number) & 128) === 128 && h > start - 4) h--
        h--
        if (runBuf === buf && runEnd === h) runEnd = end
        else { flush(); runBuf = buf; runStart = h; runEnd = end }
        const qos = (flags >> 1) & 3
        if (qos > 0) {
          const p = start + 2 + (((buf[start] as number) << 8) | (buf[start + 1] as number))
          const ack = Buffer.allocUnsafe(4)
          writeAck(ack, 0, qos === 1 ? T.puback : T.pubrec, ((buf[p] as number) << 8) | (buf[p + 1] as number))
          socket.write(ack)
        }
        return
      }
      flush()
      switch (type) {
        case T.connect: socket.write(CONNACK); return
        case T.subscribe: {
          const n = end - start
          const ack = Buffer.allocUnsafe(4 + 16)
          let count = 0
          // granted QoS: the requested option byte of each filter
          let p = start + 2
          while (p < start + n) {
            const len = ((buf[p] as number) << 8) | (buf[p + 1] as number)
            p += 2 + len
            ack[4 + count++] = (buf[p] as number) & 3
            p++
            if (count === 16) break
          }
          ack[0] = 0x90
          ack[1] = 2 + count
          ack[2] = buf[start] as number
          ack[3] = buf[start + 1] as number
          socket.write(ack.subarray(0, 4 + count))
          subscribers.add(socket)
          return
        }
        case T.pubrel: {
          const ack = Buffer.allocUnsafe(4)
          writeAck(ack, 0, T.pubcomp, ((buf[start] as number) << 8) | (buf[start + 1] as number))
          socket.write(ack)
          return
        }
        case T.pingreq: socket.write(PINGRESP); return
        case T.disconnect: socket.end(); break
        default:
      }
    }, () => socket.destroy())
    socket.on('data', (chunk) => {
      socket.cork()
      scanner.push(chunk)
      flush()
      socket.uncork()
    })
    socket.on('error', () => {})
    socket.on('close', () => { subscribers.delete(socket); sockets.delete(socket) })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        port,
        close: () => new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy()
          server.close(() => resolve())
        })
      })
    })
  })
}
