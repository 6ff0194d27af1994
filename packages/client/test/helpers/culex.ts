/**
 * The real `culex` broker app (`apps/broker/dist/cli.js`, from @culex/test-kit) with TCP, TLS,
 * WS and WSS listeners on free ports, the level store in a temp dir, and the test certificate.
 * `restart()` stops it (SIGTERM, graceful) and starts it again on the same ports and store.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeCert, startCulex as start, tempDir, type Teardown } from '@culex/test-kit'

export { culexMissing } from '@culex/test-kit'

export interface Culex {
  ports: { tcp: number, tls: number, ws: number, wss: number }
  ca: string
  restart: () => Promise<void>
  stop: () => Promise<void>
}

export async function startCulex (t: Teardown, extraArgs: string[] = []): Promise<Culex> {
  const dir = tempDir(t, 'culex-app-')
  const { cert, key } = makeCert()
  const culex = await start(t, [
    '--port', '0', '--tls-port', '0', '--ws-port', '0', '--wss-port', '0',
    '--host', '127.0.0.1', '--cert', cert, '--key', key, '--store', 'level', '--data-dir', join(dir, 'data'), '--sys-interval', '0',
    ...extraArgs
  ])
  return {
    get ports () {
      const p = culex.ports
      return { tcp: p.mqtt ?? 0, tls: p.mqtts ?? 0, ws: p.ws ?? 0, wss: p.wss ?? 0 }
    },
    ca: readFileSync(cert, 'utf8'),
    stop: async () => { await culex.stop() },
    restart: culex.restart
  }
}
