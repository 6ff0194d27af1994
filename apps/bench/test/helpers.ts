import net from 'node:net'
import { Aedes } from 'aedes'
import { parseCliArgs, type BenchOptions } from '../src/index.ts'

/** Options for a short run: sub-second windows, small counts. */
export function quick (argv: string[]): BenchOptions {
  const r = parseCliArgs([...argv, '--duration', '0.4', '--warmup', '0.1', '--timeout', '5'])
  if (r.help) throw new Error('help')
  return r.options
}

/** aedes 1.2.0 on a plain net server, in this process, on a free port. */
export async function startAedes (): Promise<{ port: number, close: () => Promise<void> }> {
  const broker = await Aedes.createBroker()
  const server = net.createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close()
      broker.close(() => resolve())
    })
  }
}
