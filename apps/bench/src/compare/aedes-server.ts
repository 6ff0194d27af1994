#!/usr/bin/env node
/**
 * aedes 1.2.0 on a plain `net` server — the peer the comparison starts in a child process.
 * Usage: node aedes-server.js --port N [--persistence memory|level|redis] [--path DIR] [--redis-port N]
 *  - memory (default): aedes' in-memory persistence;
 *  - level: aedes-persistence-level on a classic-level database in DIR;
 *  - redis: aedes-persistence-redis on the redis-server at 127.0.0.1:N.
 * Prints "listening <port>" on stdout when ready; exits on SIGTERM/SIGINT.
 */
import { createRequire } from 'node:module'
import net from 'node:net'
import { Aedes } from 'aedes'

// the aedes persistences are CommonJS without types
const require = createRequire(import.meta.url)

function arg (name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? undefined : process.argv[i + 1]
}

async function persistence (kind: string): Promise<unknown> {
  switch (kind) {
    case 'memory': return undefined
    case 'level': {
      const dir = arg('path')
      if (dir === undefined) throw new Error('--persistence level needs --path DIR')
      const { ClassicLevel } = await import('classic-level')
      const level = require('aedes-persistence-level') as (db: unknown) => unknown
      return level(new ClassicLevel(dir))
    }
    case 'redis': {
      const port = Number(arg('redis-port'))
      if (!Number.isInteger(port)) throw new Error('--persistence redis needs --redis-port N')
      const redis = require('aedes-persistence-redis') as (o: unknown) => unknown
      // no per-session delivery cap: the runs compare draining, not limits
      return redis({ host: '127.0.0.1', port, maxSessionDelivery: 10_000_000 })
    }
    default: throw new Error(`--persistence expects memory, level or redis, got "${kind}"`)
  }
}

const port = Number(arg('port') ?? 0)
const p = await persistence(arg('persistence') ?? 'memory')
const broker = await Aedes.createBroker(p === undefined ? {} : { persistence: p })
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
