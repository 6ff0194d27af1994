// Options of the operator's surface: HTTP(S) listener, logging, WebSocket path.
import t from 'tap'
import { finalize, parseArgv } from '../src/config.ts'
import { isAppError } from '../src/errors.ts'

const cfg = (argv: string[]): ReturnType<typeof finalize> => finalize(parseArgv(argv).options, '/w')
function codeOf (argv: string[]): string {
  try {
    cfg(argv)
    return 'no error'
  } catch (err) {
    return isAppError(err) ? `${err.code} ${err.option ?? ''}`.trim() : 'not an AppError'
  }
}

t.test('defaults: no HTTP listener, info level, format by terminal, any WebSocket path', async (t) => {
  const c = cfg([])
  t.same(c.http, { port: undefined, httpsPort: undefined, hosts: ['127.0.0.1', '::1'], defaultHosts: true, token: undefined, maxBody: 1048576 })
  t.equal(c.logLevel, 'info')
  t.equal(c.logFormat, undefined)
  t.equal(c.wsPath, undefined)
  t.equal(cfg(['-v']).logLevel, 'debug', '-v is debug')
  t.equal(cfg(['-v', '--log-level', 'warn']).logLevel, 'warn', '--log-level wins over -v')
})

t.test('HTTP options', async (t) => {
  const c = cfg(['--http-port', '8080', '--https-port', '8443', '--cert', 'c.pem', '--key', 'k.pem', '--http-host', '0.0.0.0',
    '--http-token', 'x'.repeat(16), '--http-max-body', '10'])
  t.same(c.http, { port: 8080, httpsPort: 8443, hosts: ['0.0.0.0'], defaultHosts: false, token: 'x'.repeat(16), maxBody: 10 })
  t.equal(cfg(['--ws-path', '/mqtt', '--log-format', 'json']).wsPath, '/mqtt')
})

t.test('bad operator options are refused with the option named', async (t) => {
  t.equal(codeOf(['--log-level', 'loud']), 'CULEX_ERR_INVALID_OPTION logLevel')
  t.equal(codeOf(['--log-format', 'xml']), 'CULEX_ERR_INVALID_OPTION logFormat')
  t.equal(codeOf(['--ws-path', 'mqtt']), 'CULEX_ERR_INVALID_OPTION wsPath', 'must start with /')
  t.equal(codeOf(['--ws-path', '/mqtt?x']), 'CULEX_ERR_INVALID_OPTION wsPath', 'no query')
  t.equal(codeOf(['--http-token', 'short']), 'CULEX_ERR_INVALID_OPTION httpToken')
  t.equal(codeOf(['--https-port', '1']), 'CULEX_ERR_CONFLICT httpsPort', 'needs --cert and --key')
  t.equal(codeOf(['--https-port', '1', '--cert', 'c']), 'CULEX_ERR_CONFLICT key', '--cert without --key')
  t.equal(codeOf(['--http-port', '1883']), 'CULEX_ERR_CONFLICT httpPort', 'same port as MQTT')
  t.equal(codeOf(['--http-host', '0.0.0.0', '--http-port', '1']), 'CULEX_ERR_INSECURE httpHost', 'non-loopback without credentials')
  t.equal(codeOf(['--http-host', '0.0.0.0', '--http-port', '1', '--http-token', 'y'.repeat(16)]), 'no error')
  t.equal(codeOf(['--http-host', '127.0.0.2']), 'no error', 'loopback')
})

t.test('the token is not echoed in the error', async (t) => {
  try {
    cfg(['--http-token', 'secret1'])
    t.fail('expected an error')
  } catch (err) {
    t.notMatch((err as Error).message, /secret1/)
  }
})
