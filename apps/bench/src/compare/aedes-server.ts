#!/usr/bin/env node
/**
 * aedes 1.2.0 with its default in-memory persistence on a plain `net` server — the peer
 * the comparison starts in a child process. Usage: node aedes-server.js --port N
 * Prints "listening <port>" on stdout when ready; exits on SIGTERM/SIGINT.
 */
import net from 'node:net'
import { Aedes } from 'aedes'

const i = process.argv.indexOf('--port')
const port = i === -1 ? 0 : Number(process.argv[i + 1])
const broker = await Aedes.createBroker()
const server = net.createServer(broker.handle)
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`)
})
const stop = (): void => {
  server.close()
  broker.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
