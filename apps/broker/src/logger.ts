/**
 * The app's pino logger: human-readable (pino-pretty, synchronous, no worker thread) when
 * stdout is a terminal or `--log-format pretty`, one JSON object per line otherwise (pipe it
 * through `pino-pretty` to read it); level from `--log-level` (`-v` = debug).
 */
import { pino, destination, type Logger } from 'pino'
import pretty from 'pino-pretty'

/**
 * @param opts - `level` (default `info`, or `debug` with `verbose`); `pretty` defaults to
 *   stdout being a TTY
 */
export function createLogger (opts: { verbose?: boolean, level?: string, pretty?: boolean | undefined }): Logger {
  const level = opts.level ?? (opts.verbose === true ? 'debug' : 'info')
  const usePretty = opts.pretty ?? process.stdout.isTTY === true
  if (usePretty) {
    return pino({ level, base: null }, pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
  }
  return pino({ level, base: { pid: process.pid } }, destination({ dest: 1, sync: true }))
}
