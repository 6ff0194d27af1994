/**
 * A scripted MQTT peer for protocol edge cases no real broker can be made to produce on
 * demand (a PUBACK with 0x87, ignored PINGREQs, an AUTH challenge, a tiny Receive
 * Maximum). It decodes and encodes with @culex/packet and runs only what the test says.
 */
import { createServer, type Socket } from 'node:net'
import { Parser, encode, type Packet } from '@culex/packet'

export interface Peer {
  socket: Socket
  version: 4 | 5
  send: (p: Packet) => void
  packets: Packet[]
}

export async function scripted (
  t: { teardown: (fn: () => unknown) => void },
  onPacket: (peer: Peer, p: Packet) => void
): Promise<{ url: string, peers: Peer[] }> {
  const peers: Peer[] = []
  const server = createServer((socket) => {
    const peer: Peer = { socket, version: 4, send: () => {}, packets: [] }
    peer.send = (p) => { if (!socket.destroyed) socket.write(encode(p, peer.version)) }
    const parser = new Parser({
      onPacket: (p) => {
        if (p.cmd === 'connect') peer.version = p.protocolVersion === 5 ? 5 : 4
        peer.packets.push(p)
        onPacket(peer, p)
      }
    })
    peers.push(peer)
    socket.on('data', (d) => parser.parse(d))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const p of peers) p.socket.destroy()
    server.close()
  })
  return { url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, peers }
}

/** Answers CONNECT with an accepting CONNACK carrying `props` (5.0). */
export function accept (peer: Peer, props: Record<string, unknown> = {}, sessionPresent = false): void {
  if (peer.version === 5) peer.send({ cmd: 'connack', sessionPresent, reasonCode: 0, properties: props })
  else peer.send({ cmd: 'connack', sessionPresent, returnCode: 0 })
}
