/**
 * The app's pino logger: human-readable (pino-pretty, synchronous, no worker thread) when
 * stdout is a terminal, one JSON object per line otherwise; `debug` level with `-v`.
 */
import { pino, destination, type Logger } from 'pino'
import pretty from 'pino-pretty'

/**
 * @param opts - `verbose` turns on debug; `pretty` defaults to stdout being a TTY
 */
export function createLogger (opts: { verbose: boolean, pretty?: boolean }): Logger {
  const level = opts.verbose ? 'debug' : 'info'
  const usePretty = opts.pretty ?? process.stdout.isTTY === true
  if (usePretty) {
    return pino({ level, base: null }, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
  }
  return pino({ level, base: { pid: process.pid } }, destination({ dest: 1, sync: true }))
}
