/**
 * The `culex` command: `culex [options]` runs the broker, `culex passwd ...` manages
 * password files. Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM) or help/version,
 * 2 for configuration and usage errors, 1 for start-up failures.
 */
import { readFileSync } from 'node:fs'
import { loadConfig } from './config.ts'
import { helpText } from './help.ts'
import { isAppError, EXIT_RUNTIME } from './errors.ts'
import { runPasswd, defaultPasswdIo } from './passwd-command.ts'

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function fail (err: unknown): never {
  if (isAppError(err)) {
    process.stderr.write(`culex: ${err.message} [${err.code}]\n`)
    process.exit(err.exitCode)
  }
  process.stderr.write(`culex: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(EXIT_RUNTIME)
}

async function main (argv: string[]): Promise<void> {
  if (argv[0] === 'passwd') {
    await runPasswd(argv.slice(1), defaultPasswdIo())
    return
  }
  const result = loadConfig({ argv, env: process.env, cwd: process.cwd() })
  if (result.action === 'help') { process.stdout.write(helpText()); return }
  if (result.action === 'version') { process.stdout.write(`culex ${version()}\n`); return }
  const { config } = result
  // Loaded only to run: errors, help and passwd do not pay for pino, ws and the engine.
  const [{ createLogger }, { startServer }] = await Promise.all([import('./logger.ts'), import('./server.ts')])
  const logger = createLogger({ level: config.logLevel, pretty: config.logFormat === undefined ? undefined : config.logFormat === 'pretty' })
  const server = await startServer(config, logger)
  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(EXIT_RUNTIME)
    }
    stopping = true
    logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      logger.error('shutdown took more than 10 s: exiting')
      process.exit(EXIT_RUNTIME)
    }, 10_000)
    force.unref()
    server.close().then(() => {
      logger.info('stopped')
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, 'error during shutdown')
      process.exit(EXIT_RUNTIME)
    })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // Mosquitto's habit: SIGHUP reloads the password, ACL and TLS files; connections stay
  process.on('SIGHUP', () => {
    if (stopping) return
    logger.info({ signal: 'SIGHUP' }, 'reloading files')
    server.reload()
  })
}

main(process.argv.slice(2)).catch(fail)
